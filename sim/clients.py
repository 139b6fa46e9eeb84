"""The client side: payments arriving, each a user paying one order with one key, retrying
on the SDK's backoff when no final answer comes, and the one timer behind every client's
read timeout."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Generator
from typing import Any

import simpy

from core.domain import MAX_AMOUNT, Outcome, PaymentRequest, Response, fingerprint
from core.variants import PROVIDER_KEY_WINDOW_MS
from sim.backends import FAST_ERROR_US
from sim.metrics import Metrics
from sim.scenario import ClientPolicy, Scenario
from sim.servers import Balancer, Fleet
from sim.spill import SpilledRequests, unchecked_request
from sim.timeline import US_PER_MS, US_PER_S, Task, Timeline, Wait

TIMED_OUT = object()
"""What a client's wait receives when its own timeout fires first."""

SUCCESS_SOURCE = "tok_visa"
DECLINE_SOURCE = "tok_chargeDeclined"


def _below(rng: random.Random, n: int) -> int:
    """``rng.randint(a, a + n - 1) - a``: ``Random._randbelow_with_getrandbits``, the draws
    ``randint`` makes, without its three Python calls."""
    if n <= 0:
        raise ValueError(f"empty range for randint() ({n} values)")
    k = n.bit_length()
    r = rng.getrandbits(k)
    while r >= n:
        r = rng.getrandbits(k)
    return r


def backoff_us(
    policy: ClientPolicy, retries: int, retry_after_s: int | None, rng: random.Random
) -> int:
    """stripe-python's schedule: min(initial * 2^(n-1), max), jitter x[0.5, 1], at least
    the initial delay, and at least a Retry-After the server sent."""
    if policy.backoff == "none":
        delay = 0.0
    elif policy.backoff == "fixed":
        delay = float(policy.initial_delay_ms)
    else:
        delay = min(policy.initial_delay_ms * 2 ** (retries - 1), policy.max_delay_ms)
        delay *= 0.5 * (1 + rng.random())
        delay = max(float(policy.initial_delay_ms), delay)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s * 1000.0)
    return int(delay * US_PER_MS)


class ClientTimer:
    """Wakes a client with TIMED_OUT at its deadline unless it was answered first. Every
    client waits the same timeout, so deadlines arrive in order and one timer process serves
    them all: a timer event per attempt would mostly fire long after the answer came."""

    __slots__ = ("_deadlines", "_idle", "_started", "env")

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self._deadlines: deque[tuple[int, simpy.Event]] = deque()
        self._idle: simpy.Event | None = None
        self._started = False

    def expire_at(self, deadline: int, wake: simpy.Event) -> None:
        self._deadlines.append((deadline, wake))
        idle = self._idle
        if idle is not None:
            self._idle = None
            idle.succeed()
        elif not self._started:
            self._started = True
            self.env.process(self._run())

    def _run(self) -> Generator[Any, Any, None]:
        env, queue = self.env, self._deadlines
        while True:
            while queue and (queue[0][1].triggered or queue[0][0] <= env.now):
                _deadline, wake = queue.popleft()
                if not wake.triggered:
                    wake.succeed(TIMED_OUT)
            if queue:
                yield env.timeout(queue[0][0] - env.now)
            else:
                self._idle = env.event()
                yield self._idle


class Clients:
    """Arrivals and the users they bring; ``idle`` fires once arrivals ended and every user
    is done. ``first_requests`` keeps each key's first payload for the settle phase."""

    def __init__(
        self,
        timeline: Timeline,
        scenario: Scenario,
        metrics: Metrics,
        balancer: Balancer,
        fleet: Fleet,
        rng_arrivals: random.Random,
        rng_clients: random.Random,
    ) -> None:
        self.env = timeline.env
        self.now_ms = timeline.now_ms
        self.scenario = scenario
        self.metrics = metrics
        self._pick_server = balancer.pick
        self._send = fleet.send
        self.rng_arrivals = rng_arrivals
        self.rng_clients = rng_clients
        self.timer = ClientTimer(self.env)
        self.load_end_us = int(scenario.load.duration_s * US_PER_S)
        self._active = 0
        self._arrivals_done = False
        self.idle: simpy.Event = self.env.event()
        self._merchants = [f"m{i}" for i in range(scenario.workload.merchants)]
        """One string per merchant, shared by every request (a long run holds them all)."""
        self.first_requests = SpilledRequests()
        """The first request of every (merchant, key), retried once in the settle phase;
        on disk until then. A (merchant, key) is never remembered twice: every payment makes
        a key of its own (``_request``) and paying again adds ``-again`` to it."""
        self._checked = False
        """Whether a generated request passed PaymentRequest's checks (``_request``)."""
        self.late_retry_us: int | None = None
        for spec in scenario.faults:
            if spec.kind == "provider_key_window":
                self.late_retry_us = (
                    int(spec.at_s * US_PER_S) + (PROVIDER_KEY_WINDOW_MS + 60_000) * US_PER_MS
                )

    def _rate_at(self, t_s: float) -> float:
        load = self.scenario.load
        if load.arrivals == "ramp" and load.rate_end is not None:
            return load.rate + (load.rate_end - load.rate) * min(1.0, t_s / load.duration_s)
        rate = load.rate
        for b in load.bursts:
            if b.at_s <= t_s < b.at_s + b.duration_s:
                rate = max(rate, b.rate)
        return rate

    def _max_rate(self) -> float:
        load = self.scenario.load
        rates = [load.rate, load.rate_end or 0.0, *(b.rate for b in load.bursts)]
        return max(rates)

    def arrivals(self) -> Generator[Any, Any, None]:
        """Poisson arrivals by thinning: candidates at the peak rate, kept with r(t)/peak;
        ``uniform``: one every 1/rate seconds, as an open-loop load generator sends them."""
        env, rng, load = self.env, self.rng_arrivals, self.scenario.load
        peak = self._max_rate()
        constant = load.arrivals == "poisson" or (not load.bursts and load.arrivals != "ramp")
        limit = load.max_payments
        even = int(US_PER_S / peak) if load.arrivals == "uniform" else 0
        n = 0
        while True:
            gap = (even if n else 1) if even else int(rng.expovariate(peak) * US_PER_S) + 1
            if env.now + gap >= self.load_end_us:
                break
            yield Wait(env, gap)
            if not constant and rng.random() * peak > self._rate_at(env.now / US_PER_S):
                continue
            n += 1
            self._active += 1
            Task(env, self._customer(n))  # nobody waits on a customer: no process event
            if limit is not None and n >= limit:
                break
        self._arrivals_done = True
        self._maybe_idle()

    def _maybe_idle(self) -> None:
        if self._arrivals_done and self._active == 0 and not self.idle.triggered:
            self.idle.succeed()

    def _request(self, n: int) -> PaymentRequest:
        wl, rng = self.scenario.workload, self.rng_clients
        merchant_index = n % wl.merchants
        merchant = self._merchants[merchant_index]
        if wl.separator_keys:
            # twins n = 2j, 2j+1: (m, "s:j") and (m + ":s", "j") join to one "m:s:j"
            merchant = self._merchants[(n // 2) % wl.merchants]
            if n % 2 == 0:
                key = f"s:{n // 2}"
            else:
                merchant, key = f"{merchant}:s", f"{n // 2}"
        elif wl.key_collision_rate and rng.random() < wl.key_collision_rate:
            key = f"order-{n // wl.merchants}"
        else:
            key = f"k{n:07d}-{rng.getrandbits(40):010x}"
        source = DECLINE_SOURCE if rng.random() < wl.decline_rate else SUCCESS_SOURCE
        order = f"o{n:07d}"
        amount = wl.amount_min + _below(rng, wl.amount_max - wl.amount_min + 1)
        if self._checked:
            # Only the currency could fail PaymentRequest's checks (merchants, orders, keys
            # and sources are made here, amounts are within the scenario's checked bounds),
            # and the first request passed them with the same currency.
            return unchecked_request(merchant, order, amount, wl.currency, source, key)
        request = PaymentRequest(merchant, order, amount, wl.currency, source, key)
        self._checked = wl.amount_min >= 1 and wl.amount_max <= MAX_AMOUNT
        return request

    def _customer(self, n: int) -> Generator[Any, Any, None]:
        """One user paying one order: retries with the same key, maybe pays again."""
        env, policy, rng = self.env, self.scenario.client, self.rng_clients
        m = self.metrics
        m.payments += 1
        client = f"c{n:07d}"
        request = self._request(n)
        start = env.now
        self.first_requests.append(request)
        m.arrival_ms.append(int(start) // US_PER_MS)  # self.now_ms(), inlined
        outcome = yield from self._pay(request, client)
        if outcome is not None and outcome in (Outcome.PAID, Outcome.FAILED):
            now = env._now
            m.latencies_ms.append((now - start) / US_PER_MS)
            m.final_at_ms.append(int(now) // US_PER_MS)
            if outcome is Outcome.PAID:
                m.paid += 1
                m.paid_at_ms.append(int(now) // US_PER_MS)
            else:
                m.failed += 1
        elif outcome is None:
            m.gave_up += 1
        if self.late_retry_us is not None and outcome is not Outcome.PAID:
            # The user (or a queued retry job) comes back after the provider's key window.
            if env.now < self.late_retry_us:
                yield env.timeout(self.late_retry_us - env.now)
            outcome = yield from self._pay(request, client, attempts=1)
        if (
            outcome is not Outcome.PAID
            and policy.pay_again_rate
            and rng.random() < policy.pay_again_rate
        ):
            m.pay_again += 1
            again = PaymentRequest(
                merchant=request.merchant,
                order=request.order,
                amount=request.amount,
                currency=request.currency,
                source=request.source,
                idempotency_key=f"{request.idempotency_key}-again",
            )
            self.first_requests.append(again)
            yield from self._pay(again, client)
        wl = self.scenario.workload
        if wl.key_reuse_rate and rng.random() < wl.key_reuse_rate:
            reused = PaymentRequest(
                merchant=request.merchant,
                order=request.order,
                amount=request.amount + 100,
                currency=request.currency,
                source=request.source,
                idempotency_key=request.idempotency_key,
            )
            yield from self._pay(reused, client, attempts=1)
        self._active -= 1
        self._maybe_idle()

    def _pay(
        self, request: PaymentRequest, client: str, attempts: int | None = None
    ) -> Generator[Any, Any, Outcome | None]:
        """Send with one key until a final answer or the policy gives up (None)."""
        env, policy, m = self.env, self.scenario.client, self.metrics
        limit = attempts if attempts is not None else policy.max_attempts
        timeout_us = policy.timeout_ms * US_PER_MS
        fp = fingerprint(request)
        for tried in range(1, limit + 1):
            server = self._pick_server()
            response: Response | None = None
            wake = simpy.Event(env)  # env.event() without the bound-class lookup
            attempt = self._send(request, fp, client, server, wake)
            if attempt is not None:
                double = (
                    tried == 1
                    and policy.double_submit_rate
                    and self.rng_clients.random() < policy.double_submit_rate
                )
                if double:
                    m.double_submits += 1
                    self._send(request, fp, client, self._pick_server(avoid=server), wake)
                self.timer.expire_at(int(env.now) + timeout_us, wake)
                answer = yield wake
                if answer is TIMED_OUT:
                    m.timeouts += 1
                else:
                    response = answer
            else:
                yield env.timeout(FAST_ERROR_US)
            if response is not None:
                outcome = response.outcome
                if outcome in (Outcome.PAID, Outcome.FAILED, Outcome.REJECTED, Outcome.CONFLICT):
                    return outcome
                if outcome is Outcome.PENDING and not policy.retry_pending:
                    return outcome
            if tried < limit:
                retry_after = response.retry_after_s if response is not None else None
                yield env.timeout(backoff_us(policy, tried, retry_after, self.rng_clients))
        return None
