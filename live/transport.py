"""``LiveTransport``: the core's ``AsyncTransport`` over real Redis, Postgres and Stripe."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from core.effects import Effect
from core.providers import STRIPE, ProviderContract, provider_named
from core.runtime.backends import Backends
from core.runtime.effect_table import HANDLERS
from core.variants import Variant
from live.config import LiveConfig
from live.metrics import observe_effect
from live.paypal_provider import PayPalProvider
from live.postgres_store import PostgresStore, now_ms
from live.redis_store import RedisStore
from live.request_log import CURRENT
from live.stripe_provider import StripeProvider


class WallClock:
    """The clock backend: wall-clock milliseconds (or an injected clock) and real sleeps."""

    def __init__(self, clock: Callable[[], int]) -> None:
        self._clock = clock

    async def now_ms(self) -> int:
        return self._clock()

    async def sleep(self, ms: int) -> None:
        await asyncio.sleep(ms / 1000)


class LiveTransport:
    """One process's connections; ``perform`` answers each effect through the core's effect
    table, the one the memory world uses, awaiting what the live backend returns."""

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
        self.contract: ProviderContract = STRIPE
        """The provider's promises, for the flows (``payment_flow``/``reconcile_flow``)."""
        self.stripe: StripeProvider | PayPalProvider
        """The provider adapter (named ``stripe`` for the callers that predate PayPal)."""
        if config.is_paypal:
            self.contract = provider_named(config.provider)
            self.stripe = PayPalProvider(
                config.paypal_api_base,
                config.paypal_client_id,
                config.paypal_client_secret,
                timeout_s=self.variant.provider_timeout_ms / 1000,
                call_log_path=config.stripe_call_log,
            )
        else:
            self.stripe = StripeProvider(
                config.stripe_api_base,
                config.stripe_api_key,
                timeout_s=self.variant.provider_timeout_ms / 1000,
                call_log_path=config.stripe_call_log,
            )
        self.backends = Backends(WallClock(clock), self.redis, self.postgres, self.stripe)

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
        """Answer ``effect``; its round trip is timed here, where the I/O happens (core stays
        free of it): the per-effect histogram, and the request's log line when one is served."""
        started = time.perf_counter()
        try:
            return await HANDLERS[type(effect)](self.backends, effect)
        finally:
            seconds = time.perf_counter() - started
            name = type(effect).__name__
            observe_effect(name, seconds)
            record = CURRENT.get()
            if record is not None:
                record.effects.append((name, seconds))
