"""A model of PayPal's one-step card payment (Orders v2) and its ``PayPal-Request-Id``.

The charge flow is PayPal's **one-step create order**: ``POST /v2/checkout/orders`` with
``intent: CAPTURE`` and a ``payment_source.card`` (or a vault id) creates and captures the
order in one request, answered with the order and its capture. It is the only PayPal flow
that, like Stripe's ``POST /v1/charges``, moves money in one idempotent request; create then
capture would be two requests with two keys and an approved-but-uncaptured state the gateway
does not have. PayPal's reference makes ``PayPal-Request-Id`` "mandatory for all single-step
create order calls (e.g. Create Order Request with payment source information like Card,
PayPal.vault_id, PayPal.billing_agreement_id, etc)".

Semantics, each from PayPal's developer docs: the Idempotency guideline
(developer.paypal.com/reference/guidelines/idempotency: latest status, no header duplicates,
"processes the first request and might fail the second", retention "see the reference for
your API") and the Orders v2 reference (retention, the one-step header requirement, the
processor response; these two quotes are from memory, not re-checked here):

- a repeated ``PayPal-Request-Id`` returns **the latest status** of the earlier request, not
  a frozen copy of its first answer (``replay``: a capture refunded since replays as refunded);
- PayPal does not promise to compare the repeated request's payload with the first: a repeat
  with another amount gets the first request's latest status (``not_compared``), never an
  ``idempotency_error``;
- "If you send two simultaneous requests with the same PayPal-Request-Id, PayPal processes the
  first request and might fail the second": whether the second fails or waits is left open,
  so it is the parameter ``simultaneous`` (``fail``: an error the adapter cannot tell from a
  failed call, so outcome unknown; ``wait``: it answers the first's latest status once that
  finished, else times out) and both are run;
- how long the id is stored depends on the API; Orders v2: "The server stores keys for 6
  hours" (72 h on request) — ``key_window_ms``;
- without the header PayPal duplicates the request (``key=None`` charges every time); the
  older APIs answer ``DUPLICATE_REQUEST_ID`` instead (not modelled: Orders v2 is used);
- a 500 that created no order leaves nothing whose status a repeat could return, so a repeat
  is processed anew (assumption: the docs promise the latest status *of a resource*);
- a 429 (``RATE_LIMIT_REACHED``) executes nothing;
- a declined card is a capture with status ``DECLINED`` and a processor response code
  (Orders v2, "processor_response"); it is final for that request id;
- lookups for the reconciler: a capture by id (``GET /v2/payments/captures/{id}``, at once)
  and the transaction search (``GET /v1/reporting/transactions``), where "it takes a maximum
  of three hours for executed transactions to appear" — ``search_lag_ms``.

The test sources are the scenarios' provider-neutral names (``tok_visa``,
``tok_chargeDeclined…``, ``tok_500``, ``tok_429``), mapped to what PayPal's sandbox
negative testing would answer. PayPal has no 50-cent minimum; any positive amount captures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from core.effects import ChargeResult, Conflict, OutcomeUnknown, Unavailable
from core.models.stripe_model import (
    DECLINING_SOURCES,
    RATE_LIMIT_SOURCE,
    SERVER_ERROR_SOURCE,
    Charge,
    Metadata,
    Ticket,
)
from core.providers import PAYPAL_KEY_WINDOW_MS, PAYPAL_SEARCH_LAG_MS

PROCESSOR_CODES: Mapping[str, str] = {
    "generic_decline": "0500",  # DO_NOT_HONOR
    "insufficient_funds": "5120",  # INSUFFICIENT_FUNDS
    "fraudulent": "9500",  # SUSPECTED_FRAUD
    "incorrect_cvc": "00N7",  # CVV2_FAILURE
    "expired_card": "5400",  # EXPIRED_CARD
    "processing_error": "1000",  # PARTIAL_AUTHORIZATION / processing trouble
}
"""Orders v2 ``processor_response.response_code`` for each declining test source."""

Simultaneous = Literal["fail", "wait"]


@dataclass(slots=True)
class _RequestId:
    """What PayPal keeps for one ``PayPal-Request-Id``: where to read its latest status."""

    created_ms: int
    executing: bool = True
    capture_id: str | None = None


@dataclass(slots=True)
class PayPalModel:
    """Captures and request ids on the model clock, in the two halves ``begin``/``finish``
    the runtimes share with ``StripeModel`` (same interface, other promises)."""

    clock: Callable[[], int]
    simultaneous: Simultaneous = "fail"
    key_window_ms: int = PAYPAL_KEY_WINDOW_MS
    search_lag_ms: int = PAYPAL_SEARCH_LAG_MS
    available: bool = True
    charges: dict[str, Charge] = field(default_factory=dict)
    on_charge: list[Callable[[Charge], None]] = field(default_factory=list)
    _keys: dict[str, _RequestId] = field(default_factory=dict)
    _next_id: int = 1
    _next_sweep_ms: int = 0

    # --- the one-step create order ----------------------------------------------------------

    def begin(
        self,
        key: str | None,
        amount: int,
        currency: str,
        source: str,
        metadata: Mapping[str, str],
    ) -> Ticket | ChargeResult:
        """Start ``POST /v2/checkout/orders``. A known request id answers its latest status
        at once, whatever this request's payload; one still executing fails or waits."""
        if not self.available:
            raise Unavailable("paypal: connection refused")
        if key is not None:
            entry = self._entry(key)
            if entry is not None:
                if entry.executing:
                    if self.simultaneous == "fail":
                        raise OutcomeUnknown(
                            "paypal: the second simultaneous request with this "
                            "PayPal-Request-Id failed"
                        )
                    return Ticket(key, amount, currency, source, (), follows=True)
                return self._latest(entry)
        if source == RATE_LIMIT_SOURCE:
            raise Unavailable("paypal: 429 RATE_LIMIT_REACHED (nothing executed)")
        if key is not None:
            self._keys[key] = _RequestId(self.clock())
        return Ticket(key, amount, currency, source, tuple(sorted(metadata.items())))

    def finish(self, ticket: Ticket, *, applied: bool = True) -> ChargeResult:
        """Complete a started request; ``applied=False`` models a crash before it executed."""
        if ticket.follows:
            entry = self._keys.get(ticket.key) if ticket.key is not None else None
            if entry is None or entry.executing or not applied:
                raise OutcomeUnknown("paypal: timed out waiting for the first request")
            return self._latest(entry)
        entry = self._keys.get(ticket.key) if ticket.key is not None else None
        if not applied or ticket.source == SERVER_ERROR_SOURCE:
            if entry is not None:
                del self._keys[ticket.key]  # type: ignore[arg-type]
            if not applied:
                raise OutcomeUnknown("paypal: request lost before it executed")
            raise OutcomeUnknown("paypal: 500 INTERNAL_SERVER_ERROR (no order created)")
        capture = self._capture(ticket)
        if entry is not None:
            entry.executing = False
            entry.capture_id = capture.id
        return capture_result(capture)

    def charge(
        self,
        key: str | None,
        amount: int,
        currency: str,
        source: str,
        metadata: Mapping[str, str],
    ) -> ChargeResult:
        started = self.begin(key, amount, currency, source, metadata)
        if isinstance(started, ChargeResult):
            return started
        return self.finish(started)

    def refund(self, capture_id: str) -> None:
        """``POST /v2/payments/captures/{id}/refund`` in full: the capture's status changes,
        and so does what a repeat of its request id answers (the latest status)."""
        capture = self.charges[capture_id]
        if capture.status != "succeeded":
            raise Conflict("paypal: only a completed capture can be refunded")
        self.charges[capture_id] = replace(capture, status="refunded")

    def _capture(self, ticket: Ticket) -> Charge:
        decline = DECLINING_SOURCES.get(ticket.source)
        capture = Charge(
            id=f"CAP{self._next_id:08d}",
            amount=ticket.amount,
            currency=ticket.currency,
            source=ticket.source,
            status="failed" if decline else "succeeded",
            metadata=Metadata(ticket.metadata),
            idempotency_key=ticket.key,
            created_ms=self.clock(),
        )
        self._next_id += 1
        self.charges[capture.id] = capture
        for listener in self.on_charge:
            listener(capture)
        return capture

    def _latest(self, entry: _RequestId) -> ChargeResult:
        assert entry.capture_id is not None
        return capture_result(self.charges[entry.capture_id], replayed=True)

    def _entry(self, key: str) -> _RequestId | None:
        """The request id's entry unless older than the window (and not executing); expired
        entries are forgotten when met and by a sweep once per window, as in ``StripeModel``."""
        now = self.clock()
        horizon = now - self.key_window_ms
        if now >= self._next_sweep_ms:
            stale = [
                k for k, e in self._keys.items() if e.created_ms <= horizon and not e.executing
            ]
            for k in stale:
                del self._keys[k]
            self._next_sweep_ms = now + self.key_window_ms
        entry = self._keys.get(key)
        if entry is not None and entry.created_ms <= horizon and not entry.executing:
            del self._keys[key]
            return None
        return entry

    # --- lookups for reconciliation ---------------------------------------------------------

    def retrieve(self, charge_id: str) -> Charge | None:
        """``GET /v2/payments/captures/{id}``."""
        if not self.available:
            raise Unavailable("paypal: connection refused")
        return self.charges.get(charge_id)

    def find_by_metadata(self, name: str, value: str) -> list[Charge]:
        """The transaction search filtered on the capture's ``custom_id``/``invoice_id``
        fields, oldest first: only captures at least ``search_lag_ms`` old appear."""
        if not self.available:
            raise Unavailable("paypal: connection refused")
        visible_before = self.clock() - self.search_lag_ms
        return [
            c
            for c in self.charges.values()
            if c.metadata.get(name) == value and c.created_ms <= visible_before
        ]


def capture_result(capture: Charge, *, replayed: bool = False) -> ChargeResult:
    """A capture as the gateway reads it: COMPLETED succeeded; DECLINED (with its processor
    code) and REFUNDED did not (a refunded capture is no longer a payment)."""
    decline = None
    if capture.status == "failed":
        reason = DECLINING_SOURCES.get(capture.source, "generic_decline")
        decline = PROCESSOR_CODES.get(reason, "0500")
    elif capture.status == "refunded":
        decline = "refunded"
    return ChargeResult(
        capture.id,
        capture.status == "succeeded",
        capture.amount,
        capture.currency,
        decline,
        replayed,
    )
