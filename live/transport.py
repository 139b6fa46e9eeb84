"""``LiveTransport``: the core's ``AsyncTransport`` over real Redis, Postgres and Stripe."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from core.effects import (
    CacheGet,
    CacheGetOrLock,
    CachePut,
    CachePutAndRelease,
    ClockRead,
    DbTransaction,
    Effect,
    LockAcquire,
    LockRelease,
    OrderMarkPaid,
    PaymentFind,
    PaymentGet,
    PaymentInsert,
    PaymentsToReconcile,
    PaymentTransition,
    ProviderCharge,
    ProviderLookup,
    Sleep,
)
from core.variants import Variant
from live.config import LiveConfig
from live.postgres_store import PostgresStore, now_ms
from live.redis_store import RedisStore
from live.stripe_provider import StripeProvider


class LiveTransport:
    """One process's connections; ``perform`` answers each effect type, nothing else."""

    def __init__(
        self,
        config: LiveConfig,
        variant: Variant | None = None,
        *,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.config = config
        self.variant = variant or config.resolve_variant()
        self.clock = clock
        self.redis = RedisStore(
            config.redis_url, config.redis_prefix, timeout_s=config.redis_timeout_s
        )
        self.postgres = PostgresStore(
            config.database_url,
            config.db_schema,
            self.variant,
            min_size=config.pool_min,
            max_size=config.pool_max,
            timeout_s=config.db_timeout_s,
        )
        self.stripe = StripeProvider(
            config.stripe_api_base,
            config.stripe_api_key,
            timeout_s=self.variant.provider_timeout_ms / 1000,
            call_log_path=config.stripe_call_log,
        )
        self._handlers: dict[type[Any], Callable[[Any], Awaitable[Any]]] = {
            ClockRead: self._clock,
            Sleep: self._sleep,
            CacheGet: lambda e: self.redis.cache_get(e.key),
            CachePut: lambda e: self.redis.cache_put(e.key, e.response, e.ttl_ms),
            LockAcquire: lambda e: self.redis.lock_acquire(e.key, e.token, e.ttl_ms),
            CacheGetOrLock: lambda e: self.redis.cache_get_or_lock(
                e.cache_key, e.lock_key, e.token, e.ttl_ms
            ),
            LockRelease: lambda e: self.redis.lock_release(e.key, e.token),
            CachePutAndRelease: lambda e: self.redis.cache_put_and_release(
                e.cache_key, e.response, e.ttl_ms, e.lock_key, e.token
            ),
            PaymentFind: lambda e: self.postgres.find(e.merchant, e.idempotency_key),
            PaymentGet: lambda e: self.postgres.get(e.payment_id),
            PaymentInsert: self._single,
            PaymentTransition: self._transition,
            OrderMarkPaid: self._single,
            DbTransaction: self._transaction,
            PaymentsToReconcile: lambda e: self.postgres.to_reconcile(e.stale_before_ms, e.limit),
            ProviderCharge: self.stripe.charge,
            ProviderLookup: self._lookup,
        }

    async def open(self) -> None:
        await self.postgres.open()
        try:
            await self.postgres.check_schema()
        except BaseException:
            await self.postgres.close()
            raise

    async def close(self) -> None:
        await self.postgres.close()
        await self.redis.close()
        await self.stripe.close()

    async def perform(self, effect: Effect[Any]) -> Any:
        return await self._handlers[type(effect)](effect)

    async def _clock(self, effect: ClockRead) -> int:
        return self.clock()

    async def _sleep(self, effect: Sleep) -> None:
        await asyncio.sleep(effect.ms / 1000)

    async def _single(self, effect: PaymentInsert | OrderMarkPaid) -> None:
        await self.postgres.execute([effect])

    async def _transition(self, effect: PaymentTransition) -> Any:
        return (await self.postgres.execute([effect]))[0]

    async def _transaction(self, effect: DbTransaction) -> None:
        await self.postgres.execute(effect.writes)

    async def _lookup(self, effect: ProviderLookup) -> Any:
        if effect.charge_id is not None:
            found = await self.stripe.retrieve(effect.charge_id)
            if found is not None:
                return found
        if effect.payment_id is not None:
            return await self.stripe.find_by_payment(effect.payment_id)
        return None
