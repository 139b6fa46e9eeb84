"""The HTTP contract of the live service, as the load clients see it, mapped to history events.

A response's JSON body is ``core.domain.Response.body()``: ``{"status": outcome, "code": …,
"payment": {id, merchant, order, amount, currency, charge}}``; a replay carries
``Idempotent-Replayed: true``. Anything else (a timeout, a refused connection, a body that is
not JSON) becomes an ``error`` outcome, which the checker treats as "nothing final said".
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.domain import PaymentRequest, fingerprint
from core.history import Event, request_event

OUTCOME_BY_STATUS: Mapping[int, str] = {
    200: "paid",
    201: "paid",
    202: "pending",
    400: "rejected",
    402: "failed",
    409: "in_flight",
    422: "rejected",
    429: "error",
}
KNOWN_OUTCOMES = frozenset(
    {"paid", "failed", "pending", "in_flight", "rejected", "conflict", "error"}
)

GOOD_SOURCES = ("tok_visa", "tok_mastercard", "tok_amex")
DECLINE_SOURCE = "tok_chargeDeclined"
MOCK_FAULT_SOURCES = ("tok_500", "tok_429")


@dataclass(frozen=True, slots=True)
class Answer:
    """What one attempt got back, reduced to what the users decide on."""

    status: int
    outcome: str
    code: str
    payment_id: str = ""
    replayed: bool = False
    retry_after_s: float | None = None
    latency_ms: float = 0.0

    @property
    def final(self) -> bool:
        return self.outcome in ("paid", "failed")

    @property
    def retryable(self) -> bool:
        """Worth retrying with the same key: nothing final was said."""
        return self.outcome in ("pending", "in_flight", "error")


def request_body(request: PaymentRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "merchant": request.merchant,
        "order": request.order,
        "amount": request.amount,
        "currency": request.currency,
        "source": request.source,
    }
    if request.metadata:
        body["metadata"] = dict(request.metadata)
    return body


def request_headers(request: PaymentRequest, auth: dict[str, str] | None = None) -> dict[str, str]:
    """The POST's headers; ``auth`` is the merchant's ``Authorization`` header."""
    return {
        "Idempotency-Key": request.idempotency_key,
        "Content-Type": "application/json",
        **(auth or {}),
    }


def choose_source(rng: random.Random, decline_rate: float, mock_fault_rate: float) -> str:
    roll = rng.random()
    if roll < mock_fault_rate:
        return rng.choice(MOCK_FAULT_SOURCES)
    if roll < mock_fault_rate + decline_rate:
        return DECLINE_SOURCE
    return rng.choice(GOOD_SOURCES)


def new_request(
    rng: random.Random,
    merchant: str,
    source: str,
    *,
    order: str | None = None,
    amount: int | None = None,
    currency: str | None = None,
) -> PaymentRequest:
    """A fresh payment under a fresh key (UUID-based, so keys never collide across hosts).

    The key starts with the merchant's run prefix (``lt…-``) so the run's Redis keys can be
    found and flushed without touching anyone else's, whatever the variant's key layout."""
    run_prefix = merchant.split("-", 1)[0]
    return PaymentRequest(
        merchant=merchant,
        order=order or f"o-{uuid.uuid4().hex[:16]}",
        amount=amount if amount is not None else rng.randint(100, 99_999),
        currency=currency or rng.choice(("usd", "usd", "eur")),
        source=source,
        idempotency_key=f"{run_prefix}-k-{uuid.uuid4().hex}",
    )


def request_record(
    t: int, attempt: str, client: str, request: PaymentRequest, target: str
) -> Event:
    """The request event, with the server it was sent to in ``detail``."""
    ev = request_event(t, attempt, client, request)
    return Event(**{**ev.to_dict(), "detail": f"target={target}"})


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    """A header's value; clients differ (geventhttpclient gives a tuple for a header seen
    twice), so the last value wins."""
    for k, v in headers.items():
        if str(k).lower() == name.lower():
            if isinstance(v, tuple | list):
                return str(v[-1]) if v else None
            return str(v)
    return None


def parse_answer(
    status: int, headers: Mapping[str, Any], text: str | bytes | None, latency_ms: float
) -> tuple[Answer, dict[str, Any]]:
    """Reduce an HTTP answer to an ``Answer`` and the payment dict of its body (may be empty)."""
    body: dict[str, Any] = {}
    if text:
        try:
            loaded = json.loads(text)
            if isinstance(loaded, dict):
                body = loaded
        except (ValueError, UnicodeDecodeError):
            body = {}
    outcome = body.get("status") if isinstance(body.get("status"), str) else None
    if outcome not in KNOWN_OUTCOMES:
        outcome = OUTCOME_BY_STATUS.get(status, "error")
    code = str(body.get("code") or (body.get("error") or {}).get("code", "") or f"http_{status}")
    raw_payment = body.get("payment")
    payment: dict[str, Any] = raw_payment if isinstance(raw_payment, dict) else {}
    replayed = (_header(headers, "Idempotent-Replayed") or "").lower() == "true"
    retry_after: float | None = None
    raw_retry = _header(headers, "Retry-After")
    if raw_retry:
        try:
            retry_after = float(raw_retry)
        except ValueError:
            retry_after = None
    answer = Answer(
        status=status,
        outcome=outcome,
        code=code,
        payment_id=str(payment.get("id") or ""),
        replayed=replayed,
        retry_after_s=retry_after,
        latency_ms=latency_ms,
    )
    return answer, payment


def response_record(
    t: int,
    attempt: str,
    client: str,
    request: PaymentRequest,
    answer: Answer,
    payment: Mapping[str, Any],
    message: str = "",
) -> Event:
    amount = payment.get("amount")
    return Event(
        t=t,
        kind="response",
        attempt=attempt,
        client=client,
        merchant=request.merchant,
        key=request.idempotency_key,
        order=request.order,
        amount=amount if isinstance(amount, int) else -1,
        currency=str(payment.get("currency") or ""),
        fingerprint=fingerprint(request),
        status=answer.status,
        outcome=answer.outcome,
        code=answer.code,
        payment_id=answer.payment_id,
        payment_merchant=str(payment.get("merchant") or ""),
        payment_order=str(payment.get("order") or ""),
        charge_id=str(payment.get("charge") or ""),
        replayed=answer.replayed,
        detail=message or f"latency_ms={answer.latency_ms:.1f}",
    )


def transport_error(code: str, latency_ms: float) -> Answer:
    """A timeout or a refused/reset connection: status 0, nothing said."""
    return Answer(status=0, outcome="error", code=code, latency_ms=latency_ms)
