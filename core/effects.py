"""The closed set of effects a flow may ask for, the faults a runtime may throw back, and
``perform``: the one place where a flow yields to whoever runs it.

Effects are plain frozen values ("acquire lock K for 10 s"); the runtime that answers them
decides whether they hit a model, a simulated backend or a real server. A fault is thrown
into the flow at the ``yield`` of the effect it concerns.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeAlias, TypeVar, cast

from core.domain import Payment, PaymentState, Response

T = TypeVar("T")
R = TypeVar("R")

Backend = Literal["redis", "postgres", "stripe", "clock"]


class Effect(Generic[T]):
    """Base of every effect; ``T`` is what the runtime sends back into the flow."""

    backend: ClassVar[Backend]
    __slots__ = ()


# --- clock --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClockRead(Effect[int]):
    """Milliseconds on the runtime's clock (model clock, simulated clock or wall clock)."""

    backend: ClassVar[Backend] = "clock"


@dataclass(frozen=True, slots=True)
class Sleep(Effect[None]):
    backend: ClassVar[Backend] = "clock"
    ms: int


# --- redis: idempotency cache and locks ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class CacheGet(Effect[Response | None]):
    backend: ClassVar[Backend] = "redis"
    key: str


@dataclass(frozen=True, slots=True)
class CachePut(Effect[None]):
    backend: ClassVar[Backend] = "redis"
    key: str
    response: Response
    ttl_ms: int


@dataclass(frozen=True, slots=True)
class LockAcquire(Effect[bool]):
    """``SET key token NX PX ttl``: true when this token now holds the lock."""

    backend: ClassVar[Backend] = "redis"
    key: str
    token: str
    ttl_ms: int


@dataclass(frozen=True, slots=True)
class CacheGetOrLock(Effect[Response | bool]):
    """The cache check and the lock in one atomic step (a Lua script on real Redis): the
    cached answer when ``cache_key`` holds one, else whether ``SET lock_key token NX PX ttl``
    took the lock. One round trip instead of two."""

    backend: ClassVar[Backend] = "redis"
    cache_key: str
    lock_key: str
    token: str
    ttl_ms: int


@dataclass(frozen=True, slots=True)
class LockRelease(Effect[bool]):
    """Compare-and-delete when ``token`` is given; a plain ``DEL`` when it is None."""

    backend: ClassVar[Backend] = "redis"
    key: str
    token: str | None


@dataclass(frozen=True, slots=True)
class CachePutAndRelease(Effect[bool]):
    """``CachePut`` then ``LockRelease`` in one atomic step (a Lua script on real Redis): the
    answer cached under ``cache_key``, then the lock released as ``LockRelease`` would (by
    ``token``, or a plain ``DEL`` when it is None). One round trip instead of two; true when
    the lock was released."""

    backend: ClassVar[Backend] = "redis"
    cache_key: str
    response: Response
    ttl_ms: int
    lock_key: str
    token: str | None


# --- postgres: payments and orders --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaymentFind(Effect[Payment | None]):
    """Find by key; ``merchant=None`` looks the key up across merchants (the seed's query)."""

    backend: ClassVar[Backend] = "postgres"
    merchant: str | None
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class PaymentGet(Effect[Payment | None]):
    backend: ClassVar[Backend] = "postgres"
    payment_id: str


@dataclass(frozen=True, slots=True)
class PaymentInsert(Effect[None]):
    """Insert a row; a unique-constraint violation is thrown back as ``Conflict``."""

    backend: ClassVar[Backend] = "postgres"
    payment: Payment


@dataclass(frozen=True, slots=True)
class PaymentTransition(Effect[Payment]):
    """Move a payment to ``target``. With ``expected`` set it is compare-and-set (``Conflict``
    when the row is not in that state: a fence against zombies); with None it is blind."""

    backend: ClassVar[Backend] = "postgres"
    payment_id: str
    expected: PaymentState | None
    target: PaymentState
    charge_id: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class OrderMarkPaid(Effect[None]):
    backend: ClassVar[Backend] = "postgres"
    merchant: str
    order: str
    payment_id: str


Write: TypeAlias = PaymentInsert | PaymentTransition | OrderMarkPaid


@dataclass(frozen=True, slots=True)
class DbTransaction(Effect[None]):
    """Several writes committed all or nothing."""

    backend: ClassVar[Backend] = "postgres"
    writes: tuple[Write, ...]


@dataclass(frozen=True, slots=True)
class PaymentsToReconcile(Effect[tuple[Payment, ...]]):
    """RECONCILE rows, and PENDING/PROCESSING rows created before ``stale_before_ms``."""

    backend: ClassVar[Backend] = "postgres"
    stale_before_ms: int
    limit: int = 100


# --- stripe -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChargeResult:
    """What the provider answered: a charge that succeeded or was declined."""

    charge_id: str | None
    succeeded: bool
    amount: int
    currency: str
    decline_code: str | None = None
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class ProviderCharge(Effect[ChargeResult]):
    backend: ClassVar[Backend] = "stripe"
    idempotency_key: str
    amount: int
    currency: str
    source: str
    metadata: tuple[tuple[str, str], ...]

    def metadata_dict(self) -> dict[str, str]:
        return dict(self.metadata)


@dataclass(frozen=True, slots=True)
class ProviderRetrieve(Effect[ChargeResult | None]):
    """The charge with this id (``GET /v1/charges/:id``); None when the provider has none."""

    backend: ClassVar[Backend] = "stripe"
    charge_id: str


@dataclass(frozen=True, slots=True)
class ProviderChargesForPayment(Effect[tuple[ChargeResult, ...]]):
    """Every charge whose ``payment_id`` metadata names this payment, oldest first. Which one
    counts is the reconcile flow's decision, not the provider's."""

    backend: ClassVar[Backend] = "stripe"
    payment_id: str


# --- faults thrown into flows -------------------------------------------------------------


class Fault(Exception):
    """Base of what a runtime throws into a flow instead of a result."""


class OutcomeUnknown(Fault):
    """Timeout, 5xx or lost response: the effect may or may not have been applied."""


class Unavailable(Fault):
    """The backend refused before doing anything (connection refused, 429, commit failed)."""


class Conflict(Fault):
    """Unique violation, failed compare-and-set, or the provider's 409 for a key in flight."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class IdempotencyMismatch(Fault):
    """The provider's ``idempotency_error``: the key was first used with other parameters."""


Flow: TypeAlias = Generator[Effect[Any], Any, R]


def perform(effect: Effect[T]) -> Generator[Effect[Any], Any, T]:
    """Yield one effect to the runtime and return its result (or raise the fault thrown in).

    Every flow goes through here, so runtimes see one protocol: ``send(result)`` or
    ``throw(fault)`` at each yield.
    """
    result = yield effect
    return cast(T, result)
