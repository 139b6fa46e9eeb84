"""Domain of the gateway: requests, their fingerprint, payments and the state machine.

Pure values only. Validation happens here, once, so every runtime refuses the same inputs
with the same messages before a single effect is yielded.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from core.currencies import ISO_4217

MAX_AMOUNT = 99_999_999
"""Stripe's largest amount in minor units for most currencies (eight digits)."""

MAX_KEY_LENGTH = 255
"""The IETF Idempotency-Key draft leaves length to the server; Stripe accepts up to 255."""


class ValidationError(ValueError):
    """A request field is unacceptable; ``field`` names it so the edge can answer 400 with it."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


def validate_idempotency_key(key: object) -> str:
    """1-255 printable ASCII characters (0x20-0x7e), as the IETF draft's header value allows."""
    if not isinstance(key, str):
        raise ValidationError("idempotency_key", "must be a string")
    if not key:
        raise ValidationError("idempotency_key", "is required and must not be empty")
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationError(
            "idempotency_key", f"is {len(key)} characters long; at most {MAX_KEY_LENGTH} allowed"
        )
    if key.isascii() and key.isprintable():  # exactly 0x20-0x7e, without a loop per char
        return key
    bad = [c for c in key if not (0x20 <= ord(c) <= 0x7E)]
    if bad:
        raise ValidationError(
            "idempotency_key", f"must be printable ASCII; found {bad[0]!r} (U+{ord(bad[0]):04X})"
        )
    return key


NO_METADATA: Mapping[str, str] = MappingProxyType({})
"""The one read-only empty metadata every request without metadata shares."""


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """One client's ``POST /payments``: who pays what for which order, under which key."""

    merchant: str
    order: str
    amount: int
    currency: str
    source: str
    idempotency_key: str
    metadata: Mapping[str, str] = field(default_factory=lambda: NO_METADATA)
    _fp_full: str | None = field(default=None, init=False, repr=False, compare=False)
    """Memo of ``fingerprint(self)``: the request is immutable, and the simulator
    fingerprints each request several times (client, flow, history)."""
    _fp_no_amount: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        validate_idempotency_key(self.idempotency_key)
        if not isinstance(self.merchant, str) or not self.merchant.strip():
            raise ValidationError("merchant", "must be a non-empty string")
        if not isinstance(self.order, str) or not self.order.strip():
            raise ValidationError("order", "must be a non-empty string")
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise ValidationError("amount", "must be an integer number of minor units")
        if not 1 <= self.amount <= MAX_AMOUNT:
            raise ValidationError(
                "amount", f"must be between 1 and {MAX_AMOUNT} minor units; got {self.amount}"
            )
        if not isinstance(self.currency, str) or self.currency.lower() != self.currency:
            raise ValidationError("currency", "must be a lower-case ISO 4217 code, e.g. 'usd'")
        if self.currency not in ISO_4217:
            raise ValidationError("currency", f"{self.currency!r} is not an ISO 4217 code")
        if not isinstance(self.source, str) or not self.source.strip():
            raise ValidationError("source", "must be a non-empty payment source, e.g. 'tok_visa'")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in self.metadata.items()):
            raise ValidationError("metadata", "keys and values must be strings")
        if self.metadata is not NO_METADATA:
            frozen = MappingProxyType(dict(self.metadata)) if self.metadata else NO_METADATA
            object.__setattr__(self, "metadata", frozen)

    def payload(self, *, include_amount: bool = True) -> dict[str, Any]:
        """The canonical payload: everything but the key, the thing a fingerprint covers."""
        body: dict[str, Any] = {
            "merchant": self.merchant,
            "order": self.order,
            "currency": self.currency,
            "source": self.source,
            "metadata": dict(sorted(self.metadata.items())),
        }
        if include_amount:
            body["amount"] = self.amount
        return body

    @classmethod
    def from_json(cls, body: Mapping[str, Any], idempotency_key: str) -> PaymentRequest:
        """Build from a JSON body, naming the first missing field instead of a KeyError."""
        for name in ("merchant", "order", "amount", "currency", "source"):
            if name not in body:
                raise ValidationError(name, "is required")
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, Mapping):
            raise ValidationError("metadata", "must be an object of strings")
        return cls(
            merchant=body["merchant"],
            order=body["order"],
            amount=body["amount"],
            currency=body["currency"],
            source=body["source"],
            idempotency_key=idempotency_key,
            metadata=dict(metadata),
        )


def fingerprint(request: PaymentRequest, *, include_amount: bool = True) -> str:
    """Stable SHA-256 of the canonical JSON payload, the key excluded (Stripe compares params)."""
    found = request._fp_full if include_amount else request._fp_no_amount
    if found is not None:
        return found
    canonical = json.dumps(
        request.payload(include_amount=include_amount), sort_keys=True, separators=(",", ":")
    )
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:32]
    object.__setattr__(request, "_fp_full" if include_amount else "_fp_no_amount", digest)
    return digest


class PaymentState(enum.StrEnum):
    """The seed's state machine; RECONCILE means 'charged, not saved' until the job resolves it."""

    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    RECONCILE = "RECONCILE"


FINAL_STATES: frozenset[PaymentState] = frozenset({PaymentState.COMPLETED, PaymentState.FAILED})

TRANSITIONS: Mapping[PaymentState, frozenset[PaymentState]] = MappingProxyType(
    {
        # PENDING → PROCESSING: the charge succeeded, saving; → FAILED: declined;
        # → RECONCILE: the outcome is unknown (timeout, 5xx, lost response) or the save failed.
        PaymentState.PENDING: frozenset(
            {PaymentState.PROCESSING, PaymentState.FAILED, PaymentState.RECONCILE}
        ),
        # PROCESSING → COMPLETED: saved; → RECONCILE: the save failed after the charge.
        PaymentState.PROCESSING: frozenset({PaymentState.COMPLETED, PaymentState.RECONCILE}),
        # RECONCILE → COMPLETED | FAILED: the job asked the provider.
        PaymentState.RECONCILE: frozenset({PaymentState.COMPLETED, PaymentState.FAILED}),
        PaymentState.COMPLETED: frozenset(),
        PaymentState.FAILED: frozenset(),
    }
)
"""Every allowed transition; anything absent is refused. Final states have no way out."""


class IllegalTransition(Exception):
    """A transition the table does not allow, e.g. COMPLETED → FAILED."""

    def __init__(self, payment_id: str, current: PaymentState, target: PaymentState) -> None:
        super().__init__(f"payment {payment_id}: {current} → {target} is not an allowed transition")
        self.payment_id = payment_id
        self.current = current
        self.target = target


def is_allowed(current: PaymentState, target: PaymentState) -> bool:
    return target in TRANSITIONS[current]


def check_transition(payment_id: str, current: PaymentState, target: PaymentState) -> None:
    if not is_allowed(current, target):
        raise IllegalTransition(payment_id, current, target)


@dataclass(frozen=True, slots=True)
class Payment:
    """A payment row as Postgres holds it."""

    id: str
    merchant: str
    order: str
    idempotency_key: str
    amount: int
    currency: str
    source: str
    fingerprint: str
    provider_key: str
    state: PaymentState
    created_ms: int
    charge_id: str | None = None
    error: str | None = None

    def evolve(self, state: PaymentState, charge_id: str | None, error: str | None) -> Payment:
        """This row in ``state`` with this charge and error. Built directly: rows change on
        every payment, and ``dataclasses.replace`` costs several times more in the simulator."""
        return Payment(
            self.id,
            self.merchant,
            self.order,
            self.idempotency_key,
            self.amount,
            self.currency,
            self.source,
            self.fingerprint,
            self.provider_key,
            state,
            self.created_ms,
            charge_id,
            error,
        )

    @property
    def live(self) -> bool:
        """Counts against 'one payment per order': everything but a final failure."""
        return self.state is not PaymentState.FAILED


class Outcome(enum.StrEnum):
    """What a response tells the client, which the checker judges (E4, E5, E6)."""

    PAID = "paid"  # final: the order is charged
    FAILED = "failed"  # final: the order is not charged and this key never will charge it
    PENDING = "pending"  # accepted, outcome to be reconciled (202)
    IN_FLIGHT = "in_flight"  # another request with this key is running (409)
    REJECTED = "rejected"  # refused as invalid or reused with another payload (400/422)
    CONFLICT = "conflict"  # the order already has a live or paid payment under another key
    ERROR = "error"  # transient failure, nothing final said (5xx, 503)


FINAL_OUTCOMES: frozenset[Outcome] = frozenset({Outcome.PAID, Outcome.FAILED})


@dataclass(frozen=True, slots=True)
class Response:
    """An HTTP-shaped answer: status, outcome, and the payment it is about, if any."""

    status: int
    outcome: Outcome
    code: str
    message: str = ""
    payment_id: str | None = None
    merchant: str | None = None
    order: str | None = None
    amount: int | None = None
    currency: str | None = None
    charge_id: str | None = None
    fingerprint: str | None = None
    replayed: bool = False
    retry_after_s: int | None = None

    @property
    def final(self) -> bool:
        return self.outcome in FINAL_OUTCOMES

    def as_replay(self) -> Response:
        """The same answer marked as a replay (``Idempotent-Replayed: true``)."""
        r = self
        return Response(
            r.status, r.outcome, r.code, r.message, r.payment_id, r.merchant, r.order, r.amount,
            r.currency, r.charge_id, r.fingerprint, True, r.retry_after_s,
        )  # fmt: skip

    def body(self) -> dict[str, Any]:
        """The JSON body the HTTP service sends; identical for a response and its replays."""
        out: dict[str, Any] = {"status": self.outcome.value, "code": self.code}
        if self.message:
            out["message"] = self.message
        if self.payment_id is not None:
            out["payment"] = {
                "id": self.payment_id,
                "merchant": self.merchant,
                "order": self.order,
                "amount": self.amount,
                "currency": self.currency,
                "charge": self.charge_id,
            }
        return out

    def same_answer(self, other: Response) -> bool:
        """Agreement for E4: status, outcome and payment facts match (replay flag ignored)."""
        return (
            self.status,
            self.outcome,
            self.payment_id,
            self.charge_id,
            self.amount,
            self.currency,
        ) == (
            other.status,
            other.outcome,
            other.payment_id,
            other.charge_id,
            other.amount,
            other.currency,
        )


def payment_response(payment: Payment, status: int, *, replayed: bool = False) -> Response:
    """The answer for a payment row: paid when COMPLETED, failed when FAILED, else pending."""
    if payment.state is PaymentState.COMPLETED:
        outcome, code = Outcome.PAID, "payment_completed"
    elif payment.state is PaymentState.FAILED:
        outcome, code, status = Outcome.FAILED, payment.error or "payment_failed", 402
    else:
        outcome, code, status = Outcome.PENDING, "payment_processing", 202
    return Response(
        status=status,
        outcome=outcome,
        code=code,
        payment_id=payment.id,
        merchant=payment.merchant,
        order=payment.order,
        amount=payment.amount,
        currency=payment.currency,
        charge_id=payment.charge_id,
        fingerprint=payment.fingerprint,
        replayed=replayed,
    )
