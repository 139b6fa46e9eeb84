"""The history of a run: every request, response, effect, fault and provider charge, flat.

One flat event type keeps every runtime's history in one shape: a list in memory, a
columnar file from the simulator, JSON lines from the live load. The final state (database
rows, provider charges, applied transitions) is recorded beside it for the checker.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, Protocol

from core.domain import Payment, PaymentRequest, PaymentState, Response, fingerprint

Kind = Literal[
    "request", "response", "effect", "fault", "crash", "charge", "transition", "phase", "note"
]


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened. ``merchant``/``key``/``order`` name the request it belongs to,
    so the events of a key or an order can be pulled out as a trace."""

    t: int
    kind: Kind
    attempt: str = ""
    client: str = ""
    merchant: str = ""
    key: str = ""
    order: str = ""
    amount: int = -1
    currency: str = ""
    source: str = ""
    fingerprint: str = ""
    status: int = -1
    outcome: str = ""
    code: str = ""
    payment_id: str = ""
    payment_merchant: str = ""
    payment_order: str = ""
    charge_id: str = ""
    replayed: bool = False
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def values(self) -> tuple[Any, ...]:
        """The fields in declaration order, ``Event(*values)`` gives the event back: a row of
        the history files."""
        return (
            self.t, self.kind, self.attempt, self.client, self.merchant, self.key, self.order,
            self.amount, self.currency, self.source, self.fingerprint, self.status, self.outcome,
            self.code, self.payment_id, self.payment_merchant, self.payment_order, self.charge_id,
            self.replayed, self.detail,
        )  # fmt: skip

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> Event:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in row.items() if k in names})

    def describe(self) -> str:
        """One readable line for a trace."""
        who = f"{self.attempt or '-'}"
        if self.kind == "request":
            return (
                f"t={self.t}ms {who} REQUEST {self.merchant}/{self.key} order={self.order} "
                f"{self.amount} {self.currency} source={self.source}"
            )
        if self.kind == "response":
            pay = f" payment={self.payment_id}" if self.payment_id else ""
            if self.payment_merchant and self.payment_merchant != self.merchant:
                pay += f" (of merchant {self.payment_merchant})"
            charge = f" charge={self.charge_id}" if self.charge_id else ""
            replay = " replayed" if self.replayed else ""
            return (
                f"t={self.t}ms {who} RESPONSE {self.status} {self.outcome} {self.code}"
                f"{pay}{charge}{replay}"
            )
        if self.kind == "charge":
            return (
                f"t={self.t}ms PROVIDER CHARGE {self.charge_id} {self.outcome} {self.amount} "
                f"{self.currency} for {self.merchant}/{self.key} order={self.order}"
                f" provider_key={self.detail}"
            )
        return f"t={self.t}ms {who} {self.kind.upper()} {self.detail}".rstrip()


def request_event(
    t: int, attempt: str, client: str, request: PaymentRequest, fp: str | None = None
) -> Event:
    """A request's record; ``fp`` is its fingerprint when the caller already computed it."""
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
        fingerprint=fp if fp is not None else fingerprint(request),
    )


def response_event(
    t: int,
    attempt: str,
    client: str,
    request: PaymentRequest,
    response: Response,
    fp: str | None = None,
) -> Event:
    """A response's record, filed under the request it answers."""
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
        fingerprint=fp if fp is not None else fingerprint(request),
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


@dataclass(frozen=True, slots=True)
class ListedCharge:
    """A charge as the provider lists it (model, mock server or a real account)."""

    id: str
    amount: int
    currency: str
    succeeded: bool
    merchant: str
    key: str
    order: str
    provider_key: str = ""
    source: str = ""
    created_ms: int = 0


@dataclass(frozen=True, slots=True)
class AppliedTransition:
    payment_id: str
    source: PaymentState
    target: PaymentState
    legal: bool
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class FinalState:
    """What the world holds at the end: rows, paid orders, provider charges, transitions."""

    payments: Collection[Payment]
    """Rows, in table order; iterable more than once (a long run reads them from disk)."""
    orders: Mapping[tuple[str, str], str]
    charges: tuple[ListedCharge, ...]
    transitions: tuple[AppliedTransition, ...] = ()
    charges_listed: bool = True
    """False when the provider cannot list charges (a stateless stand-in)."""


class EventSource(Protocol):
    """Anything the checker can read events from twice: a list, or a file on disk."""

    def __iter__(self) -> Iterator[Event]: ...


@dataclass(slots=True)
class History:
    """An in-memory history with listeners (the checker, a disk writer, a progress bar)."""

    events: list[Event] = field(default_factory=list)
    keep: bool = True
    listeners: list[Callable[[Event], None]] = field(default_factory=list)

    def record(self, event: Event) -> None:
        if self.keep:
            self.events.append(event)
        for listener in self.listeners:
            listener(event)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)


def events_about(
    events: Iterable[Event], keys: set[tuple[str, str]], orders: set[tuple[str, str]]
) -> list[Event]:
    """The events of the given (merchant, key) pairs and (merchant, order) pairs, in order."""
    chosen: list[Event] = []
    attempts: set[str] = set()
    for event in events:
        mine = (event.merchant, event.key) in keys or (event.merchant, event.order) in orders
        if mine or (event.attempt and event.attempt in attempts):
            if event.kind == "request" and event.attempt:
                attempts.add(event.attempt)
            chosen.append(event)
    return chosen
