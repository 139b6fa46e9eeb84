"""The Redis adapter's one-step cache check and lock (``CacheGetOrLock``) on real Redis,
against what the memory world answers for the same keys."""

from __future__ import annotations

import asyncio

from core.domain import Outcome, PaymentRequest, Response
from core.effects import CacheGetOrLock
from core.flows.payment import RedisKeys
from core.live.redis_store import RedisStore
from core.runtime.world import World
from core.variants import HARDENED
from tests.live.conftest import LiveRun
from tests.live.helpers import unique

ANSWER = Response(201, Outcome.PAID, "payment_completed", payment_id="pay_1", fingerprint="f1")


def test_get_or_lock_answers_the_cache_else_takes_the_lock_like_the_model(
    live_base: LiveRun,
) -> None:
    request = PaymentRequest(unique("m-gol-"), "o1", 1999, "usd", "tok_visa", unique("k-"))
    keys = RedisKeys.for_request(HARDENED, request)
    world = World(HARDENED)

    def model(token: str) -> object:
        return world.perform(CacheGetOrLock(keys.cache, keys.lock, token, 5000))

    async def scenario() -> list[tuple[object, object]]:
        store = RedisStore(live_base.config.redis_url, live_base.config.redis_prefix)
        seen: list[tuple[object, object]] = []

        async def both(token: str) -> None:
            live = await store.cache_get_or_lock(keys.cache, keys.lock, token, 5000)
            seen.append((live, model(token)))

        try:
            await both("a")  # nothing cached, lock free: taken
            await both("b")  # held by a
            ttl = await store.client.pttl(store.k(keys.lock))
            seen.append((0 < ttl <= 5000, True))
            await store.lock_release(keys.lock, "a")
            world.redis.compare_and_delete(keys.lock, "a")
            await store.cache_put(keys.cache, ANSWER, 5000)
            world.redis.set(keys.cache, ANSWER, px=5000)
            await both("c")  # cached: the answer, and the lock is left alone
            seen.append((await store.client.exists(store.k(keys.lock)), 0))
            return seen
        finally:
            await store.close()

    seen = asyncio.run(scenario())
    assert seen == [(True, True), (False, False), (True, True), (ANSWER, ANSWER), (0, 0)]
