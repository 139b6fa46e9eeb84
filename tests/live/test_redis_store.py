"""The Redis adapter's joined steps on real Redis, the cache check and lock
(``CacheGetOrLock``) and the cache put and release (``CachePutAndRelease``), against what the
memory world answers for the same keys."""

from __future__ import annotations

import asyncio

from core.domain import Outcome, PaymentRequest, Response
from core.effects import CacheGetOrLock, CachePutAndRelease
from core.flows.payment import RedisKeys
from core.runtime.world import World
from core.variants import HARDENED
from live.redis_store import RedisStore
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


def test_put_and_release_caches_then_releases_like_the_model(live_base: LiveRun) -> None:
    """By token: only the holder's lock goes, the answer is cached either way; without a
    token (the mutant's plain ``DEL``) any holder's lock goes."""
    request = PaymentRequest(unique("m-pr-"), "o1", 1999, "usd", "tok_visa", unique("k-"))
    keys = RedisKeys.for_request(HARDENED, request)
    world = World(HARDENED)

    def model(token: str | None) -> object:
        return world.perform(CachePutAndRelease(keys.cache, ANSWER, 5000, keys.lock, token))

    async def scenario() -> list[tuple[object, object]]:
        store = RedisStore(live_base.config.redis_url, live_base.config.redis_prefix)
        seen: list[tuple[object, object]] = []

        async def hold(token: str) -> None:
            await store.client.set(store.k(keys.lock), token, px=5000)
            world.redis.set(keys.lock, token, px=5000)

        async def both(token: str | None) -> None:
            live = await store.cache_put_and_release(keys.cache, ANSWER, 5000, keys.lock, token)
            seen.append((live, model(token)))
            held = await store.client.get(store.k(keys.lock))
            seen.append((None if held is None else held.decode(), world.redis.get(keys.lock)))
            seen.append((await store.cache_get(keys.cache), world.redis.get(keys.cache)))

        try:
            await hold("a")
            await both("a")  # ours: released, cached
            await hold("b")
            await both("a")  # another holder's: kept, cached
            await both(None)  # no token: deleted whoever holds it
            ttl = await store.client.pttl(store.k(keys.cache))
            seen.append((0 < ttl <= 5000, True))
            return seen
        finally:
            await store.close()

    seen = asyncio.run(scenario())
    assert seen == [
        (True, True),
        (None, None),
        (ANSWER, ANSWER),
        (False, False),
        ("b", "b"),
        (ANSWER, ANSWER),
        (True, True),
        (None, None),
        (ANSWER, ANSWER),
        (True, True),
    ]
