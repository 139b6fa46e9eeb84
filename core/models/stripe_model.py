"""A model of Stripe's charge endpoint and its idempotency keys.

Sources: stripe.com/docs/api/idempotent_requests ("the first result for a key, status code
and body, is saved and replayed, including 500 errors", keys "can be removed after they are
at least 24 hours old", "results are only saved if an API endpoint started executing", reuse
with other parameters is an ``idempotency_error``, a concurrent request with the same key gets
409 ``idempotency_key_in_use``); stripe.com/docs/error-handling (429 is never saved, so it is
safe to retry; declines are final 402 card errors with a failed charge object); the replay
header ``Idempotent-Replayed: true``; and stripe-stateful-mock's behaviour for test tokens
(``tok_500``: a 500 without a charge, saved; ``tok_429``: not saved; ``tok_chargeDeclined*``:
a failed charge and a saved 402; a minimum of 50 minor units for usd/eur and friends).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from core.effects import ChargeResult, Conflict, IdempotencyMismatch, OutcomeUnknown, Unavailable
from core.variants import PROVIDER_KEY_WINDOW_MS

DECLINING_SOURCES: Mapping[str, str] = {
    "tok_chargeDeclined": "generic_decline",
    "tok_chargeCustomerFail": "generic_decline",
    "tok_chargeDeclinedInsufficientFunds": "insufficient_funds",
    "tok_chargeDeclinedFraudulent": "fraudulent",
    "tok_chargeDeclinedIncorrectCvc": "incorrect_cvc",
    "tok_chargeDeclinedExpiredCard": "expired_card",
    "tok_chargeDeclinedProcessingError": "processing_error",
}
SERVER_ERROR_SOURCE = "tok_500"
RATE_LIMIT_SOURCE = "tok_429"
MIN_AMOUNT: Mapping[str, int] = {
    "usd": 50, "aud": 50, "brl": 50, "cad": 50, "chf": 50, "dkk": 250, "eur": 50,
    "hkd": 400, "jpy": 50, "mxn": 10, "nok": 300, "nzd": 50, "sek": 300, "sgd": 50,
}  # fmt: skip


class Metadata(Mapping[str, str]):
    """A charge's metadata, read-only: a tuple of names shared by every charge with the same
    names, and a tuple of values of its own. A long run keeps a charge per payment, and a dict
    of five items costs 184 bytes where this costs 128."""

    __slots__ = ("_names", "_values")
    _shared_names: ClassVar[dict[tuple[str, ...], tuple[str, ...]]] = {}

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        pairs = tuple(items)
        names = tuple([name for name, _value in pairs])  # a list first: faster than a genexpr
        shared = self._shared_names.get(names)
        if shared is None:  # names seen before were checked then
            if len(set(names)) != len(names):
                raise ValueError(f"metadata names repeat: {names}")
            shared = self._shared_names.setdefault(names, names)
        self._names = shared
        self._values = tuple([value for _name, value in pairs])

    def __getitem__(self, name: str) -> str:
        try:
            return self._values[self._names.index(name)]
        except ValueError:
            raise KeyError(name) from None

    def get(self, name: str, default: Any = None) -> Any:
        """``Mapping.get`` without its ``__getitem__`` and ``KeyError`` round trip: every
        charge's history record reads four names."""
        names = self._names
        if name in names:
            return self._values[names.index(name)]
        return default

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"Metadata({dict(self)!r})"


@dataclass(frozen=True, slots=True)
class Charge:
    """A charge object at the provider: succeeded or failed (declined)."""

    id: str
    amount: int
    currency: str
    source: str
    status: Literal["succeeded", "failed", "refunded"]
    """``refunded`` only at a provider whose replay reads the latest status (PayPal)."""
    metadata: Mapping[str, str]
    idempotency_key: str | None
    created_ms: int


Saved = Charge | ChargeResult | Literal["server_error"]
"""What a key keeps of its first result: the charge itself when one was made (a replay's
result is read off it, so a key keeps no copy of it), else the result (no charge) or the 500."""


@dataclass(slots=True)
class _KeyEntry:
    params: int
    created_ms: int
    executing: bool = True
    saved: Saved | None = None


@dataclass(frozen=True, slots=True)
class Ticket:
    """A charge request that started executing; ``finish`` completes it."""

    key: str | None
    amount: int
    currency: str
    source: str
    metadata: tuple[tuple[str, str], ...]
    follows: bool = False
    """A second request that waits for the first with its key (PayPal, ``wait`` reading):
    finishing it reads the key's latest status instead of executing anything."""


Params = tuple[int, str, str, tuple[tuple[str, str], ...]]
"""A request's parameters in canonical form (metadata sorted)."""


def params_of(amount: int, currency: str, source: str, metadata: Mapping[str, str]) -> Params:
    return (amount, currency, source, tuple(sorted(metadata.items())))


def params_digest(params: Params) -> int:
    """What a key remembers of its first request's parameters, to refuse a reuse with others:
    their 64-bit hash (an int of 32 bytes a key, where the tuple would be 400). Equal
    parameters always hash alike; two different ones collide with odds of 2**-64, and the
    hash never leaves the process, so its per-process seed changes no result."""
    return hash(params)


@dataclass(slots=True)
class StripeModel:
    """Charges and idempotency keys on the model clock. A request has two halves, ``begin`` and
    ``finish``, so a runtime can hold it 'executing' for a while (where 409s come from)."""

    clock: Callable[[], int]
    available: bool = True
    key_window_ms: int = PROVIDER_KEY_WINDOW_MS
    charges: dict[str, Charge] = field(default_factory=dict)
    on_charge: list[Callable[[Charge], None]] = field(default_factory=list)
    _keys: dict[str, _KeyEntry] = field(default_factory=dict)
    _next_id: int = 1
    _next_sweep_ms: int = 0

    # --- the charge endpoint --------------------------------------------------------------

    def begin(
        self,
        key: str | None,
        amount: int,
        currency: str,
        source: str,
        metadata: Mapping[str, str],
    ) -> Ticket | ChargeResult:
        """Start ``POST /v1/charges``. A saved result comes back at once as a replay."""
        if not self.available:
            raise Unavailable("stripe: connection refused")
        params = params_of(amount, currency, source, metadata)
        digest = params_digest(params)
        if key is not None:
            entry = self._entry(key)
            if entry is not None:
                if entry.params != digest:
                    raise IdempotencyMismatch(
                        f"Keys for idempotent requests can only be used with the same parameters "
                        f"they were first used with (key {key!r})"
                    )
                if entry.executing:
                    raise Conflict("idempotency_key_in_use: a request with this key is in flight")
                assert entry.saved is not None
                return _result(entry.saved, replayed=True)
        if source == RATE_LIMIT_SOURCE:
            raise Unavailable("stripe: 429 rate_limit (not saved; safe to retry)")
        if key is not None:
            self._keys[key] = _KeyEntry(digest, self.clock())
        return Ticket(key, amount, currency, source, params[3])

    def finish(self, ticket: Ticket, *, applied: bool = True) -> ChargeResult:
        """Complete a started request; ``applied=False`` models a crash before it executed."""
        entry = self._keys.get(ticket.key) if ticket.key is not None else None
        if not applied:
            if entry is not None:
                del self._keys[ticket.key]  # type: ignore[arg-type]
            raise OutcomeUnknown("stripe: request lost before it executed")
        saved = self._execute(ticket)
        if entry is not None:
            entry.executing = False
            entry.saved = saved
        return _result(saved, replayed=False)

    def charge(
        self,
        key: str | None,
        amount: int,
        currency: str,
        source: str,
        metadata: Mapping[str, str],
    ) -> ChargeResult:
        """``begin`` and ``finish`` at once: one request with no time in between."""
        started = self.begin(key, amount, currency, source, metadata)
        if isinstance(started, ChargeResult):
            return started
        return self.finish(started)

    def _execute(self, ticket: Ticket) -> Saved:
        if ticket.source == SERVER_ERROR_SOURCE:
            return "server_error"
        minimum = MIN_AMOUNT.get(ticket.currency, 1)
        if ticket.amount < minimum:
            return ChargeResult(None, False, ticket.amount, ticket.currency, "amount_too_small")
        decline = DECLINING_SOURCES.get(ticket.source)
        charge = Charge(
            id=f"ch_{self._next_id:08d}",
            amount=ticket.amount,
            currency=ticket.currency,
            source=ticket.source,
            status="failed" if decline else "succeeded",
            metadata=Metadata(ticket.metadata),
            idempotency_key=ticket.key,
            created_ms=self.clock(),
        )
        self._next_id += 1
        self.charges[charge.id] = charge
        for listener in self.on_charge:
            listener(charge)
        return charge

    def _entry(self, key: str) -> _KeyEntry | None:
        """The key's entry, unless it is older than the window and not executing (an
        executing key stays until it finishes and a later request comes). Expired entries are
        forgotten when met, as Redis expires keys, and by a sweep once per window, so memory
        stays bounded by the window with no queue of creation times: O(1) per request."""
        now = self.clock()
        horizon = now - self.key_window_ms
        if now >= self._next_sweep_ms:
            self._sweep(horizon)
            self._next_sweep_ms = now + self.key_window_ms
        entry = self._keys.get(key)
        if entry is not None and entry.created_ms <= horizon and not entry.executing:
            del self._keys[key]
            return None
        return entry

    def _sweep(self, horizon: int) -> None:
        """Forget every key created at or before ``horizon`` that is not executing."""
        keys = self._keys
        for key in [k for k, e in keys.items() if e.created_ms <= horizon and not e.executing]:
            del keys[key]

    def keys_in_window(self) -> dict[str, _KeyEntry]:
        """The keys a request would still find (expired ones may linger until met or swept)."""
        horizon = self.clock() - self.key_window_ms
        return {k: e for k, e in self._keys.items() if e.created_ms > horizon or e.executing}

    # --- lookups for reconciliation -------------------------------------------------------

    def retrieve(self, charge_id: str) -> Charge | None:
        if not self.available:
            raise Unavailable("stripe: connection refused")
        return self.charges.get(charge_id)

    def find_by_metadata(self, name: str, value: str) -> list[Charge]:
        """``GET /v1/charges`` filtered on metadata, oldest first."""
        if not self.available:
            raise Unavailable("stripe: connection refused")
        return [c for c in self.charges.values() if c.metadata.get(name) == value]


def _result(saved: Saved, *, replayed: bool) -> ChargeResult:
    """The answer a saved result gives, first time or replayed."""
    if isinstance(saved, str):
        raise OutcomeUnknown(
            "stripe: 500 api_error (replayed)" if replayed
            else "stripe: 500 api_error (saved for this key)"
        )  # fmt: skip
    if isinstance(saved, Charge):
        return ChargeResult(
            saved.id,
            saved.status == "succeeded",
            saved.amount,
            saved.currency,
            DECLINING_SOURCES.get(saved.source),
            replayed,
        )
    if not replayed:
        return saved
    return ChargeResult(
        saved.charge_id, saved.succeeded, saved.amount, saved.currency, saved.decline_code, True
    )


def charge_result(charge: Charge, *, replayed: bool = False) -> ChargeResult:
    decline = None if charge.status == "succeeded" else "card_declined"
    return ChargeResult(
        charge.id, charge.status == "succeeded", charge.amount, charge.currency, decline, replayed
    )
