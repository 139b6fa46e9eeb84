"""History records of requests and responses with the request's fingerprint computed once.

``core.history.request_event``/``response_event`` hash the payload on every call; the
simulator computes it once per request and builds the very same ``Event`` (a test compares
them field by field).
"""

from __future__ import annotations

from core.domain import PaymentRequest, Response
from core.history import Event


def request_record(t: int, attempt: str, client: str, request: PaymentRequest, fp: str) -> Event:
    return Event(
        t=t,
        kind="request",
        attempt=attempt,
        client=client,
        merchant=request.merchant,
        key=request.idempotency_key,
        order=request.order,
        amount=request.amount,
        currency=request.currency,
        source=request.source,
        fingerprint=fp,
    )


def response_record(
    t: int, attempt: str, client: str, request: PaymentRequest, response: Response, fp: str
) -> Event:
    return Event(
        t=t,
        kind="response",
        attempt=attempt,
        client=client,
        merchant=request.merchant,
        key=request.idempotency_key,
        order=request.order,
        amount=response.amount if response.amount is not None else -1,
        currency=response.currency or "",
        fingerprint=fp,
        status=response.status,
        outcome=response.outcome.value,
        code=response.code,
        payment_id=response.payment_id or "",
        payment_merchant=response.merchant or "",
        payment_order=response.order or "",
        charge_id=response.charge_id or "",
        replayed=response.replayed,
        detail=response.message,
    )
