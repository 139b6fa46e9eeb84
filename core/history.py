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


Row = tuple[Any, ...]
"""An event as its field values in declaration order (``Event.values``): ``Event(*row)``."""


def request_row(
    t: int, attempt: str, client: str, request: PaymentRequest, fp: str | None = None
) -> Row:
    """A request's record as a row; ``fp`` is its fingerprint when the caller already
    computed it. A simulator streaming its history writes rows, so it builds no ``Event``."""
    r = request
    fp = fp if fp is not None else fingerprint(r)
    return (t, "request", attempt, client, r.merchant, r.idempotency_key, r.order, r.amount,
            r.currency, r.source, fp, -1, "", "", "", "", "", "", False, "")  # fmt: skip


def request_event(
    t: int, attempt: str, client: str, request: PaymentRequest, fp: str | None = None
) -> Event:
    """A request's record; ``fp`` is its fingerprint when the caller already computed it."""
    return Event(*request_row(t, attempt, client, request, fp))


def response_row(
    t: int,
    attempt: str,
    client: str,
    request: PaymentRequest,
    response: Response,
    fp: str | None = None,
) -> Row:
    """A response's record as a row, filed under the request it answers."""
    r, a = request, response
    return (
        t, "response", attempt, client, r.merchant, r.idempotency_key, r.order,
        a.amount if a.amount is not None else -1, a.currency or "", "",
        fp if fp is not None else fingerprint(r), a.status, a.outcome.value, a.code,
        a.payment_id or "", a.merchant or "", a.order or "", a.charge_id or "", a.replayed,
        a.message,
    )  # fmt: skip


def response_event(
    t: int,
    attempt: str,
    client: str,
    request: PaymentRequest,
    response: Response,
    fp: str | None = None,
) -> Event:
    """A response's record, filed under the request it answers."""
    return Event(*response_row(t, attempt, client, request, response, fp))


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
    """An in-memory history with listeners (the checker, a disk writer, a progress bar).

    ``row_listeners`` take each event as a row (``Event.values``): a writer that stores rows
    listens there, and events recorded as rows (``record_row``) then never become ``Event``
    objects unless the history keeps them or an event listener wants them."""

    events: list[Event] = field(default_factory=list)
    keep: bool = True
    listeners: list[Callable[[Event], None]] = field(default_factory=list)
    row_listeners: list[Callable[[Row], None]] = field(default_factory=list)

    @property
    def heard(self) -> bool:
        """Whether anything keeps or hears an event: if not, a caller need not build it."""
        return self.keep or bool(self.listeners) or bool(self.row_listeners)

    def record(self, event: Event) -> None:
        if self.keep:
            self.events.append(event)
        for listener in self.listeners:
            listener(event)
        if self.row_listeners:
            row = event.values()
            for row_listener in self.row_listeners:
                row_listener(row)

    def record_row(self, row: Row) -> None:
        """``record(Event(*row))``, without the ``Event`` when only row listeners hear it."""
        if self.keep or self.listeners:
            event = Event(*row)
            if self.keep:
                self.events.append(event)
            for listener in self.listeners:
                listener(event)
        for row_listener in self.row_listeners:
            row_listener(row)

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
