"""Locust users: the six kinds of client the gateway must survive.

Each user pays as one of the run's merchants, with that merchant's API key
(``Authorization: Bearer``, issued by the run: ``LoadSettings.api_keys``).

Every attempt is written to the process's history before it is sent and after it returns,
so a request cut off by a killed server still leaves its request event. Statuses the
contract allows (402, 409, 422, 202, …) are not Locust failures; only transport errors and
5xx are, so Locust's own failure count means "the service misbehaved or was down".
"""

from __future__ import annotations

import os
import random
import time
from typing import Any, ClassVar

import gevent
from locust import constant_pacing, task
from locust.contrib.fasthttp import FastHttpUser

from core.domain import PaymentRequest
from loadtests.history import ProcessHistory, ReadLog
from loadtests.settings import ENV, LoadSettings
from loadtests.wire import (
    DECLINE_SOURCE,
    GOOD_SOURCES,
    Answer,
    choose_source,
    new_request,
    parse_answer,
    request_body,
    request_headers,
    request_record,
    response_record,
    transport_error,
)

_state: dict[str, Any] = {}


def settings_of(user: FastHttpUser) -> LoadSettings:
    """The run's settings: from ``--ph-settings`` (sent by the master to every worker), else
    from the environment."""
    opts = user.environment.parsed_options
    raw = getattr(opts, "ph_settings", "") if opts is not None else ""
    raw = raw or os.environ.get(ENV, "")
    cached = _state.get("settings")
    if cached is None or _state.get("raw") != raw:
        cached = LoadSettings.load(raw) if raw else LoadSettings.from_env()
        _state["settings"], _state["raw"] = cached, raw
    return cached


def history_of(settings: LoadSettings) -> ProcessHistory:
    hist = _state.get("history")
    if hist is None or hist.directory.as_posix() != settings.history_dir:
        hist = ProcessHistory(settings.history_dir, settings.t0_ms)
        _state["history"] = hist
    return hist


def reads_of(settings: LoadSettings) -> ReadLog:
    log = _state.get("reads")
    if log is None or log.directory.as_posix() != settings.history_dir:
        log = ReadLog(settings.history_dir, settings.t0_ms)
        _state["reads"] = log
    return log


def close_history() -> None:
    for name in ("history", "reads"):
        hist = _state.pop(name, None)
        if hist is not None:
            hist.close()


class PaymentUser(FastHttpUser):
    """Shared plumbing: pick a merchant and a server, send one attempt, record both ends."""

    abstract = True
    kind: ClassVar[str] = "payer"
    host = "http://127.0.0.1"
    network_timeout = 5.0
    connection_timeout = 2.0

    def on_start(self) -> None:
        self.settings = settings_of(self)
        self.history = history_of(self.settings)
        self.rng = random.Random()
        self.merchant = self.settings.merchant(self.rng.randrange(self.settings.merchants))
        self.auth = self.settings.auth_for(self.merchant)
        self.name = f"{self.kind}-{id(self) % 100_000:05d}"
        self._pacer = constant_pacing(self.settings.pace_s)

    def wait_time(self) -> float:
        """One scenario every ``pace_s`` seconds per user (offered load = users / pace_s)."""
        pacer = getattr(self, "_pacer", None)
        return float(pacer(self)) if pacer is not None else 1.0

    # --- one attempt -----------------------------------------------------------------------

    def target(self, avoid: str | None = None) -> str:
        choices = [t for t in self.settings.targets if t != avoid] or list(self.settings.targets)
        return self.rng.choice(choices)

    def source(self) -> str:
        s = self.settings
        return choose_source(self.rng, s.decline_rate, s.mock_fault_rate)

    def fresh(self, **kw: Any) -> PaymentRequest:
        return new_request(self.rng, self.merchant, kw.pop("source", None) or self.source(), **kw)

    def send(self, request: PaymentRequest, target: str | None = None, label: str = "") -> Answer:
        target = target or self.target()
        attempt = self.history.next_attempt()
        hist = self.history
        hist.record(request_record(hist.now(), attempt, self.name, request, target))
        started = time.perf_counter()
        name = f"POST /payments [{label or self.kind}]"
        with self.client.request(
            "POST",
            f"{target}/payments",
            name=name,
            json=request_body(request),
            headers=request_headers(request, self.auth),
            catch_response=True,
        ) as resp:
            latency = (time.perf_counter() - started) * 1000
            error = getattr(resp, "error", None)
            payment: dict[str, Any]
            status = int(resp.status_code or 0)
            if status == 0 or (error is not None and status == 0):
                code = "client_timeout" if "timeout" in repr(error).lower() else "connection_error"
                answer, payment = transport_error(code, latency), {}
                resp.failure(f"{code}: {error!r}"[:200])
            else:
                answer, payment = parse_answer(status, dict(resp.headers or {}), resp.text, latency)
                if status >= 500:
                    resp.failure(f"{status} {answer.code}")
                else:
                    resp.success()
        hist.record(response_record(hist.now(), attempt, self.name, request, answer, payment))
        return answer

    def until_final(
        self, request: PaymentRequest, first: Answer, target: str | None = None
    ) -> Answer:
        """Retry with the same key and payload while nothing final is said (bounded)."""
        answer = first
        for n in range(self.settings.max_retries):
            if not answer.retryable:
                break
            delay = answer.retry_after_s if answer.retry_after_s else 0.2 * (2**n)
            gevent.sleep(min(delay, 2.0) * (0.5 + self.rng.random()))
            answer = self.send(request, target or self.target(), label=f"{self.kind} retry")
        return answer


class Payer(PaymentUser):
    """Pays once with a fresh key and takes whatever comes back."""

    kind = "payer"

    @task
    def pay(self) -> None:
        self.send(self.fresh())


class Retrier(PaymentUser):
    """Retries timeouts, 409s, 5xx and 202s with the same key and payload, honouring
    Retry-After, on any server."""

    kind = "retrier"

    @task
    def pay(self) -> None:
        request = self.fresh()
        self.until_final(request, self.send(request))


class DoubleTapper(PaymentUser):
    """Sends the same key and payload to two different servers at the same moment, then
    retries until one final answer."""

    kind = "double_tapper"

    @task
    def pay(self) -> None:
        request = self.fresh()
        first = self.target()
        second = self.target(avoid=first)
        jobs = [
            gevent.spawn(self.send, request, first, "double_tapper"),
            gevent.spawn(self.send, request, second, "double_tapper"),
        ]
        gevent.joinall(jobs)
        answers = [j.value for j in jobs if j.value is not None]
        final = [a for a in answers if a.final]
        if not final and answers:
            self.until_final(request, answers[0])


class KeyReuser(PaymentUser):
    """Pays, then reuses the same key with another payload (another amount, sometimes another
    order): the gateway must refuse it (422) and charge nothing."""

    kind = "key_reuser"

    @task
    def pay(self) -> None:
        request = self.fresh(source=self.rng.choice(GOOD_SOURCES))
        self.until_final(request, self.send(request))
        changes: dict[str, Any] = {"amount": request.amount + self.rng.randint(1, 500)}
        if self.rng.random() < 0.3:
            changes = {"order": f"{request.order}-x"}
        reused = PaymentRequest(
            merchant=request.merchant,
            order=changes.get("order", request.order),
            amount=changes.get("amount", request.amount),
            currency=request.currency,
            source=request.source,
            idempotency_key=request.idempotency_key,
        )
        self.send(reused, label="key_reuser reuse")


class NewKeyAfterFailure(PaymentUser):
    """Pays with a card that may decline; after a failure (or no final answer) pays the same
    order again under a new key with a good card, as a shopper with another card would."""

    kind = "new_key_after_failure"

    @task
    def pay(self) -> None:
        source = DECLINE_SOURCE if self.rng.random() < 0.6 else self.source()
        request = self.fresh(source=source)
        answer = self.until_final(request, self.send(request))
        if answer.outcome == "paid":
            return
        again = self.fresh(
            source=self.rng.choice(GOOD_SOURCES),
            order=request.order,
            amount=request.amount,
            currency=request.currency,
        )
        self.until_final(again, self.send(again, label="new_key_after_failure again"))


class Snooper(PaymentUser):
    """Pays, then asks every server for that payment with another merchant's key: each must
    answer 404 (E4: nobody is shown another merchant's payment). Reads go to the run's
    ``reads-*.jsonl``; the audit counts any 200 as an E4 violation."""

    kind = "snooper"

    @task
    def pay(self) -> None:
        request = self.fresh(source=self.rng.choice(GOOD_SOURCES))
        answer = self.until_final(request, self.send(request))
        payment_id = answer.payment_id
        others = [
            m
            for m in (self.settings.merchant(i) for i in range(self.settings.merchants))
            if m != self.merchant
        ]
        if not payment_id or not others:
            return
        reader = self.rng.choice(others)
        auth = self.settings.auth_for(reader)
        log = reads_of(self.settings)
        for target in self.settings.targets:
            with self.client.request(
                "GET",
                f"{target}/payments/{payment_id}",
                name="GET /payments/{id} [snooper, another merchant]",
                headers=auth,
                catch_response=True,
            ) as resp:
                status = int(resp.status_code or 0)
                if status == 200:
                    resp.failure("E4: another merchant's payment was shown")
                elif status == 0 or status >= 500:
                    resp.failure(f"{status}")
                else:
                    resp.success()
            log.record(self.name, reader, self.merchant, payment_id, target, status)


USER_CLASSES: dict[str, type[PaymentUser]] = {
    "payer": Payer,
    "retrier": Retrier,
    "double_tapper": DoubleTapper,
    "key_reuser": KeyReuser,
    "new_key_after_failure": NewKeyAfterFailure,
    "snooper": Snooper,
}
