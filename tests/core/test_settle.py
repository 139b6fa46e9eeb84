"""Heal and settle, the one ending every memory run shares before E3 and E5 are judged."""

from __future__ import annotations

from core.checker import check
from core.domain import PaymentRequest
from core.runtime.settle import heal, settle, settle_wait_ms
from core.runtime.stepper import Stepper
from core.runtime.world import World
from core.variants import HARDENED, SEED


def test_the_wait_is_strictly_past_the_lock_ttl_and_the_stale_threshold() -> None:
    for variant in (SEED, HARDENED):
        assert settle_wait_ms(variant) > variant.lock_ttl_ms
        assert settle_wait_ms(variant) > variant.stale_after_ms
    short_stale = HARDENED.with_changes(
        "x", "x", stale_after_ms=100, lookup_waits_for_request_deadline=False
    )
    assert settle_wait_ms(short_stale) == HARDENED.lock_ttl_ms + 1


def test_a_design_that_fences_lookups_on_the_request_deadline_settles_past_it() -> None:
    from core.providers import PAYPAL

    assert settle_wait_ms(HARDENED) == HARDENED.request_deadline_ms + 1
    assert settle_wait_ms(HARDENED, PAYPAL) == (
        HARDENED.request_deadline_ms + PAYPAL.lookup_lag_ms + 1
    )
    assert settle_wait_ms(SEED, PAYPAL) == max(SEED.lock_ttl_ms, SEED.stale_after_ms) + 1


def test_heal_clears_every_fault_the_models_hold() -> None:
    world = World(HARDENED)
    world.redis.available = world.postgres.available = world.stripe.available = False
    world.postgres.fail_next_commits(3)
    heal(world)
    assert world.redis.available and world.postgres.available and world.stripe.available
    assert world.postgres.failing_commits == 0


def test_settle_resolves_a_crash_after_the_charge_and_retries_each_key() -> None:
    world = World(HARDENED)
    stepper = Stepper(world)
    request = PaymentRequest("m-1", "o-1", 1999, "usd", "tok_visa", "k-1")
    attempt = stepper.submit(request)
    while stepper.flows[attempt].pending_name != "ProviderCharge":
        stepper.step(attempt)
    stepper.step(attempt)  # sent: the provider is executing it
    stepper.crash(attempt)
    world.postgres.available = False
    world.postgres.fail_next_commits(1)
    started = world.clock.now
    settle(stepper, [request])
    assert world.clock.now == started + settle_wait_ms(HARDENED)
    assert [p.state.value for p in world.postgres.payments.values()] == ["COMPLETED"]
    assert [e.detail for e in world.history.events if e.kind == "phase"] == ["settle"]
    retried = [e for e in world.history.events if e.kind == "response" and e.client == "settle"]
    assert [e.outcome for e in retried] == ["paid"]
    assert check(world.history, world.final_state(), eventual=True).ok
