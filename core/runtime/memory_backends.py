"""The in-memory backends: the ``core.runtime.backends`` interface over the models.

They answer at once (no awaitables), on the model clock. ``MemoryProvider`` also holds the one
description of a charge in two halves, which the stepper and the simulator share.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.domain import Payment, Response
from core.effects import ChargeResult, Fault, PaymentTransition, ProviderCharge, Write
from core.models.clock import ModelClock
from core.models.paypal_model import PayPalModel
from core.models.postgres_model import PostgresModel
from core.models.redis_model import RedisModel
from core.models.stripe_model import StripeModel, Ticket, charge_result


class MemoryClock:
    """The model clock: a sleep moves it, nothing else in here does."""

    __slots__ = ("_clock",)

    def __init__(self, clock: ModelClock) -> None:
        self._clock = clock

    def now_ms(self) -> int:
        return self._clock.now

    def sleep(self, ms: int) -> None:
        self._clock.advance(ms)


class MemoryCache:
    """The cache and locks over the Redis model; the two Lua scripts are plain sequences here
    because nothing runs between two model calls."""

    __slots__ = ("_redis",)

    def __init__(self, redis: RedisModel) -> None:
        self._redis = redis

    def cache_get(self, key: str) -> Response | None:
        value: Response | None = self._redis.get(key)
        return value

    def cache_put(self, key: str, response: Response, ttl_ms: int) -> None:
        self._redis.set(key, response, px=ttl_ms)

    def lock_acquire(self, key: str, token: str, ttl_ms: int) -> bool:
        return self._redis.set(key, token, px=ttl_ms, nx=True)

    def cache_get_or_lock(
        self, cache_key: str, lock_key: str, token: str, ttl_ms: int
    ) -> Response | bool:
        redis = self._redis
        cached: Response | None = redis.get(cache_key)
        if cached is not None:
            return cached
        return redis.set(lock_key, token, px=ttl_ms, nx=True)

    def lock_release(self, key: str, token: str | None) -> bool:
        if token is None:
            return self._redis.delete(key)
        return self._redis.compare_and_delete(key, token)

    def cache_put_and_release(
        self, cache_key: str, response: Response, ttl_ms: int, lock_key: str, token: str | None
    ) -> bool:
        self._redis.set(cache_key, response, px=ttl_ms)
        return self.lock_release(lock_key, token)


class MemoryPayments:
    """Payments and orders over the Postgres model."""

    __slots__ = ("_postgres",)

    def __init__(self, postgres: PostgresModel) -> None:
        self._postgres = postgres

    def find(self, merchant: str | None, key: str) -> Payment | None:
        return self._postgres.find(merchant, key)

    def get(self, payment_id: str) -> Payment | None:
        return self._postgres.get(payment_id)

    def to_reconcile(self, stale_before_ms: int, limit: int) -> tuple[Payment, ...]:
        return self._postgres.to_reconcile(stale_before_ms, limit)

    def commit(self, writes: Sequence[Write]) -> None:
        self._postgres.execute(writes)

    def transition(self, change: PaymentTransition) -> Payment:
        return self._postgres.execute((change,))[0]


class MemoryProvider:
    """The provider over a provider's model (Stripe's or PayPal's: one interface).

    A charge has two halves: ``send`` (the request reaches the provider, which starts
    executing it) and ``hear`` (its answer reaches the server). A runtime that lets time pass
    between them (the stepper, the simulator) gets what a real provider does: a duplicate with
    the same key meets the 409 while the first executes, and a crash or a lost reply falls
    between charging and hearing (``finish_unheard``). ``charge`` is the two halves back to
    back, as the memory world answers it.
    """

    __slots__ = ("_stripe",)

    def __init__(self, stripe: StripeModel | PayPalModel) -> None:
        self._stripe = stripe

    def send(self, request: ProviderCharge) -> Ticket | ChargeResult:
        """The first half: a saved result answers at once as a replay (a refusal raises);
        otherwise the ticket of the charge now executing."""
        return self._stripe.begin(
            request.idempotency_key,
            request.amount,
            request.currency,
            request.source,
            request.metadata_dict(),
        )

    def hear(self, ticket: Ticket) -> ChargeResult:
        """The second half: the provider finishes and the server hears its answer (or fault)."""
        return self._stripe.finish(ticket)

    def finish_unheard(self, ticket: Ticket, *, applied: bool = True) -> None:
        """The provider finishes (``applied=False``: drops the request unexecuted) and nobody
        hears it: the server crashed, stopped waiting, or got a lost reply or a 500 instead."""
        try:
            self._stripe.finish(ticket, applied=applied)
        except Fault:
            pass

    def charge(self, request: ProviderCharge) -> ChargeResult:
        started = self.send(request)
        if isinstance(started, ChargeResult):
            return started
        return self.hear(started)

    def retrieve(self, charge_id: str) -> ChargeResult | None:
        found = self._stripe.retrieve(charge_id)
        return None if found is None else charge_result(found)

    def charges_for_payment(self, payment_id: str) -> tuple[ChargeResult, ...]:
        matches = self._stripe.find_by_metadata("payment_id", payment_id)
        return tuple(charge_result(c) for c in matches)
