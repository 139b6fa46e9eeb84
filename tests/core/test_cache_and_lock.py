"""Hardened checks the cache and takes the lock in one step (``CacheGetOrLock``), and caches
its answer and releases the lock in one more (``CachePutAndRelease``); the seed keeps the
diagram's two steps for each. Each flow here runs against the memory world, effect by effect."""

from __future__ import annotations

from typing import Any

import pytest

from core.domain import PaymentRequest, Response
from core.effects import CacheGet, CacheGetOrLock, CachePutAndRelease, LockAcquire, Sleep
from core.flows.payment import RedisKeys, payment_flow
from core.runtime.driver import FlowDriver
from core.runtime.sync import answer
from core.runtime.world import World
from core.variants import HARDENED, SEED, Variant

REQUEST = PaymentRequest("m1", "o1", 1999, "usd", "tok_visa", "k1")


def run(world: World, attempt: str, request: PaymentRequest = REQUEST) -> tuple[Any, list[str]]:
    """Drive one flow to its end; the response and the names of the effects it asked for."""
    driver: FlowDriver[Response] = FlowDriver(payment_flow(request, world.variant, attempt))
    asked: list[str] = []
    while not driver.done:
        asked.append(type(driver.pending).__name__)
        answer(world, driver, attempt, None)
    return driver.result, asked


def redis_steps(asked: list[str]) -> list[str]:
    redis = {
        "CacheGet",
        "CacheGetOrLock",
        "LockAcquire",
        "CachePut",
        "LockRelease",
        "CachePutAndRelease",
    }
    return [name for name in asked if name in redis]


def test_a_new_hardened_payment_takes_two_redis_steps() -> None:
    world = World(HARDENED)
    response, asked = run(world, "a1")
    assert response.status == 201 and not response.replayed
    assert redis_steps(asked) == ["CacheGetOrLock", "CachePutAndRelease"]
    assert asked.count("PaymentFind") == 0  # the insert is the lookup
    keys = RedisKeys.for_request(HARDENED, REQUEST)
    assert world.redis.get(keys.lock) is None, "the joined step released the lock"
    cached = world.redis.get(keys.cache)
    assert cached is not None and cached.payment_id == response.payment_id


def test_the_seed_keeps_the_diagrams_two_steps() -> None:
    world = World(SEED)
    response, asked = run(world, "a1")
    assert response.status == 201
    assert redis_steps(asked) == ["CacheGet", "LockAcquire", "CachePut", "LockRelease"]


def test_a_cached_key_is_answered_by_the_one_step_without_taking_the_lock() -> None:
    world = World(HARDENED)
    first, _ = run(world, "a1")
    again, asked = run(world, "a2")
    assert asked == ["CacheGetOrLock"]
    assert again.replayed and again.payment_id == first.payment_id
    keys = RedisKeys.for_request(HARDENED, REQUEST)
    assert world.redis.get(keys.lock) is None, "a replay leaves no lock behind"


def test_a_cached_answer_for_another_payload_is_refused_in_the_one_step() -> None:
    world = World(HARDENED)
    run(world, "a1")
    other = PaymentRequest("m1", "o1", 2999, "usd", "tok_visa", "k1")
    response, asked = run(world, "a2", other)
    assert asked == ["CacheGetOrLock"] and response.status == 422


def test_a_held_lock_is_retried_with_the_wait_then_answered_409() -> None:
    world = World(HARDENED)
    keys = RedisKeys.for_request(HARDENED, REQUEST)
    assert world.redis.set(keys.lock, "someone-else", px=HARDENED.lock_ttl_ms, nx=True)
    response, asked = run(world, "a1")
    tries = HARDENED.lock_wait_attempts
    assert tries is not None
    assert asked == ["CacheGetOrLock", "Sleep"] * tries + ["CacheGetOrLock"]
    assert response.status == 409 and response.retry_after_s is not None


def test_an_answer_cached_while_waiting_is_replayed_on_the_next_try() -> None:
    """The other holder finishes during our wait: the next one-step try finds its answer."""
    world = World(HARDENED)
    first, _ = run(world, "a0")
    keys = RedisKeys.for_request(HARDENED, REQUEST)
    cached = world.redis.get(keys.cache)
    world.redis.delete(keys.cache)
    world.redis.set(keys.lock, "someone-else", px=HARDENED.lock_ttl_ms, nx=True)
    driver: FlowDriver[Response] = FlowDriver(payment_flow(REQUEST, HARDENED, "a1"))
    assert isinstance(driver.pending, CacheGetOrLock)
    driver.send(world.perform(driver.pending))  # the lock is held: False
    assert isinstance(driver.pending, Sleep)
    world.redis.set(keys.cache, cached, px=HARDENED.cache_ttl_ms)  # the holder answered
    driver.send(None)
    driver.send(world.perform(driver.pending))
    assert driver.done and driver.result is not None
    assert driver.result.replayed and driver.result.payment_id == first.payment_id


def test_redis_down_proceeds_without_the_lock_in_hardened() -> None:
    world = World(HARDENED)
    world.redis.available = False
    response, asked = run(world, "a1")
    assert response.status == 201
    assert asked[0] == "CacheGetOrLock"
    assert "LockRelease" not in asked and "CachePutAndRelease" not in asked


def until_pending(world: World, variant: Variant, attempt: str, name: str) -> FlowDriver[Response]:
    """A hardened-like flow run up to (not into) its effect named ``name``."""
    driver: FlowDriver[Response] = FlowDriver(payment_flow(REQUEST, variant, attempt))
    while type(driver.pending).__name__ != name:
        assert not driver.done, f"the flow ended before {name}"
        answer(world, driver, attempt, None)
    return driver


@pytest.mark.parametrize("checks_token", [True, False])
def test_the_joined_release_releases_as_lock_release_would(checks_token: bool) -> None:
    """A zombie whose lock expired and was taken over caches its answer; by token it leaves
    the new holder's lock alone, as the token-checked ``LockRelease`` does, and without the
    token check (a plain ``DEL``) it deletes it."""
    variant = HARDENED.with_changes("v", "test", lock_release_checks_token=checks_token)
    world = World(variant)
    driver = until_pending(world, variant, "a1", "CachePutAndRelease")
    keys = RedisKeys.for_request(variant, REQUEST)
    world.redis.delete(keys.lock)
    world.redis.set(keys.lock, "new-holder", px=variant.lock_ttl_ms)
    effect = driver.pending
    assert isinstance(effect, CachePutAndRelease)
    assert effect.token == ("a1" if checks_token else None)
    assert world.perform(effect) is not checks_token
    assert world.redis.get(keys.lock) == ("new-holder" if checks_token else None)
    assert world.redis.get(keys.cache) == effect.response


@pytest.mark.parametrize("needs_redis", [False, True])
def test_redis_failing_at_the_cache_step_answers_as_the_two_steps_do(needs_redis: bool) -> None:
    """Joined or not, Redis going down as the answer is cached gives the client the same
    answer: hardened still says 201 (the row is final); a variant that needs Redis says 503."""
    answers = []
    for joined in (True, False):
        variant = HARDENED.with_changes(
            "v", "test", put_releases_lock=joined, proceed_without_redis=not needs_redis
        )
        world = World(variant)
        step = "CachePutAndRelease" if joined else "CachePut"
        driver = until_pending(world, variant, "a1", step)
        world.redis.available = False
        while not driver.done:
            answer(world, driver, "a1", None)
        assert driver.result is not None
        answers.append(driver.result.status)
    assert answers == ([503, 503] if needs_redis else [201, 201])


def test_redis_down_caches_apart_from_a_release_it_does_not_need() -> None:
    """Without the lock (Redis was down at the start) the answer is cached on its own."""
    world = World(HARDENED)
    world.redis.available = False
    driver: FlowDriver[Response] = FlowDriver(payment_flow(REQUEST, HARDENED, "a1"))
    asked = []
    while not driver.done:
        asked.append(type(driver.pending).__name__)
        if asked[-1] == "PaymentInsert":
            world.redis.available = True  # back before the answer is cached
        answer(world, driver, "a1", None)
    assert redis_steps(asked) == ["CacheGetOrLock", "CachePut"]
    assert world.redis.get(RedisKeys.for_request(HARDENED, REQUEST).cache) is not None


def test_a_variant_may_switch_the_joined_release_off() -> None:
    apart: Variant = HARDENED.with_changes("apart", "test", put_releases_lock=False)
    _, asked = run(World(apart), "a1")
    assert redis_steps(asked) == ["CacheGetOrLock", "CachePut", "LockRelease"]


def test_a_variant_may_switch_the_one_step_off() -> None:
    two_steps: Variant = HARDENED.with_changes("two-steps", "test", cache_check_takes_lock=False)
    _, asked = run(World(two_steps), "a1")
    assert redis_steps(asked)[:2] == ["CacheGet", "LockAcquire"]
    assert CacheGet.__name__ in asked and LockAcquire.__name__ in asked
