"""One interface for whatever answers effects: the clock, the cache/lock store, the payment
store and the provider, each named by what the gateway asks of it.

As in httpcore's ``_backends/``, the interface has several implementations: the in-memory
models (``core.runtime.memory_backends``) and the live servers (``live/``). An operation
answers either with its value (memory) or with an awaitable of it (live), so one table
(``core.runtime.effect_table``) serves both: it calls the operation and hands back what it
returned; the async transport awaits that, the memory world does not.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeAlias, TypeVar

from core.domain import Payment, Response
from core.effects import ChargeResult, PaymentTransition, ProviderCharge, Write

T = TypeVar("T")

Answer: TypeAlias = T | Awaitable[T]
"""What an operation returns: the value itself (memory) or an awaitable of it (live)."""


class Clock(Protocol):
    def now_ms(self) -> Answer[int]:
        """Milliseconds on this backend's clock (model, simulated or wall)."""

    def sleep(self, ms: int) -> Answer[None]: ...


class CacheStore(Protocol):
    """The idempotency cache and the per-key locks (Redis)."""

    def cache_get(self, key: str) -> Answer[Response | None]: ...

    def cache_put(self, key: str, response: Response, ttl_ms: int) -> Answer[None]: ...

    def lock_acquire(self, key: str, token: str, ttl_ms: int) -> Answer[bool]:
        """``SET key token NX PX ttl``: true when this token now holds the lock."""

    def cache_get_or_lock(
        self, cache_key: str, lock_key: str, token: str, ttl_ms: int
    ) -> Answer[Response | bool]:
        """The cached answer, else whether the lock was taken, in one atomic step."""

    def lock_release(self, key: str, token: str | None) -> Answer[bool]:
        """Compare-and-delete by ``token``; a plain delete when it is None."""

    def cache_put_and_release(
        self, cache_key: str, response: Response, ttl_ms: int, lock_key: str, token: str | None
    ) -> Answer[bool]:
        """``cache_put`` then ``lock_release`` in one atomic step."""


class PaymentStore(Protocol):
    """Payments and orders (Postgres)."""

    def find(self, merchant: str | None, key: str) -> Answer[Payment | None]: ...

    def get(self, payment_id: str) -> Answer[Payment | None]: ...

    def to_reconcile(self, stale_before_ms: int, limit: int) -> Answer[tuple[Payment, ...]]: ...

    def commit(self, writes: Sequence[Write]) -> Answer[None]:
        """Apply the writes all or nothing; a violated constraint raises ``Conflict``."""

    def transition(self, change: PaymentTransition) -> Answer[Payment]:
        """Apply one transition on its own; the row as it now is."""


class Provider(Protocol):
    """The payment provider (Stripe): plain operations, no policy."""

    def charge(self, request: ProviderCharge) -> Answer[ChargeResult]: ...

    def retrieve(self, charge_id: str) -> Answer[ChargeResult | None]: ...

    def charges_for_payment(self, payment_id: str) -> Answer[tuple[ChargeResult, ...]]:
        """The charges whose ``payment_id`` metadata names this payment, oldest first."""


@dataclass(frozen=True, slots=True)
class Backends:
    """One runtime's four backends, as the effect table reaches them."""

    clock: Clock
    cache: CacheStore
    payments: PaymentStore
    provider: Provider
