"""An unexpected exception (a bug, a driver error, an injected fault) at any effect of the
payment flow releases the key's lock through the flow's one error path, caches nothing, and
goes on to the driver; a retry with the same key is then processed normally (one charge).
A crash (the driver stops driving, ``close()`` throws ``GeneratorExit``) releases nothing."""

from __future__ import annotations

from typing import Any

import pytest

from core.domain import PaymentRequest, Response
from core.effects import Fault, LockRelease
from core.flows.payment import RedisKeys, payment_flow
from core.runtime.driver import FlowDriver
from core.runtime.world import World
from core.variants import HARDENED, SEED, Variant

REQUEST = PaymentRequest("m1", "o1", 1999, "usd", "tok_visa", "k1")


class Boom(RuntimeError):
    """The unexpected exception: not a ``core.effects.Fault``."""


def step(world: World, driver: FlowDriver[Response]) -> None:
    """Answer the pending effect from the world; a model's ``Fault`` is thrown in."""
    assert driver.pending is not None
    try:
        value = world.perform(driver.pending)
    except Fault as fault:
        driver.throw(fault)
    else:
        driver.send(value)


def effects_of_a_clean_run(variant: Variant) -> list[str]:
    world = World(variant)
    driver: FlowDriver[Response] = FlowDriver(payment_flow(REQUEST, variant, "a0"))
    names: list[str] = []
    while not driver.done:
        assert driver.pending is not None
        names.append(type(driver.pending).__name__)
        step(world, driver)
    return names


def run_with_boom(world: World, at: int, applied: bool) -> tuple[list[str], list[Any]]:
    """Drive the flow; at effect number ``at`` throw ``Boom`` in (after applying the effect
    when ``applied``). Returns the effects asked for and what came out of the flow."""
    driver: FlowDriver[Response] = FlowDriver(payment_flow(REQUEST, world.variant, "a1"))
    asked: list[str] = []
    raised: list[Any] = []
    try:
        while not driver.done:
            effect = driver.pending
            assert effect is not None
            asked.append(type(effect).__name__)
            if len(asked) - 1 == at:
                if applied:
                    world.perform(effect)
                driver.throw(Boom(f"at {type(effect).__name__}"))
            else:
                step(world, driver)
    except Boom as exc:
        raised.append(exc)
    return asked, raised


def cases(variant: Variant) -> list[tuple[int, bool]]:
    n = len(effects_of_a_clean_run(variant))
    return [(i, applied) for i in range(n) for applied in (False, True)]


@pytest.mark.parametrize("variant", [HARDENED, SEED], ids=lambda v: v.name)
def test_an_unexpected_exception_at_any_effect_releases_the_lock_and_a_retry_succeeds(
    variant: Variant,
) -> None:
    keys = RedisKeys.for_request(variant, REQUEST)
    for at, applied in cases(variant):
        world = World(variant)
        asked, raised = run_with_boom(world, at, applied)
        where = f"{variant.name}: Boom at effect {at} ({asked[at]}, applied={applied})"
        assert raised, f"{where}: the exception must reach the driver"
        seed_unsure = (
            not variant.lock_release_checks_token and asked[at] == "LockAcquire" and applied
        )
        if not seed_unsure:  # the seed never deletes a lock it may not hold (no token)
            assert world.redis.get(keys.lock) is None, f"{where}: the lock is still held"
        cached = world.redis.get(keys.cache)
        assert cached is None or cached.status == 201, f"{where}: cached {cached!r}"
        if seed_unsure:
            world.clock.advance(variant.lock_ttl_ms + 1)
        retry: FlowDriver[Response] = FlowDriver(payment_flow(REQUEST, variant, "a2"))
        while not retry.done:
            step(world, retry)
        assert retry.result is not None and retry.result.status == 201, (where, retry.result)
        assert len(world.stripe.charges) == 1, f"{where}: {len(world.stripe.charges)} charges"


def test_the_error_path_releases_by_token_and_never_caches() -> None:
    world = World(HARDENED)
    asked, raised = run_with_boom(world, 4, applied=False)  # the completion transaction
    assert raised and asked[-1] == "LockRelease", asked
    assert "CachePutAndRelease" not in asked


def test_a_bug_inside_the_flow_releases_the_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    import core.flows.payment as flow_module

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise Boom("a bug in settle")

    monkeypatch.setattr(flow_module, "settle", broken)
    world = World(HARDENED)
    driver: FlowDriver[Response] = FlowDriver(payment_flow(REQUEST, HARDENED, "a1"))
    seen: list[Any] = []
    with pytest.raises(Boom):
        while not driver.done:
            assert driver.pending is not None
            seen.append(driver.pending)
            step(world, driver)
    assert isinstance(seen[-1], LockRelease) and seen[-1].token == "a1"
    assert world.redis.get(RedisKeys.for_request(HARDENED, REQUEST).lock) is None


def test_a_crash_releases_nothing() -> None:
    world = World(HARDENED)
    driver: FlowDriver[Response] = FlowDriver(payment_flow(REQUEST, HARDENED, "a1"))
    flow = driver._flow  # the generator itself: a crash is close() or never driving again
    while driver.pending is not None and type(driver.pending).__name__ != "ProviderCharge":
        step(world, driver)
    flow.close()  # GeneratorExit: must not yield a release
    assert world.redis.get(RedisKeys.for_request(HARDENED, REQUEST).lock) == "a1"


def test_a_release_that_raises_is_followed_by_a_plain_release() -> None:
    world = World(HARDENED)
    names = effects_of_a_clean_run(HARDENED)
    at = names.index("CachePutAndRelease")
    asked, raised = run_with_boom(world, at, applied=False)
    assert raised and asked[at + 1 :] == ["LockRelease"], asked
    assert world.redis.get(RedisKeys.for_request(HARDENED, REQUEST).cache) is None
