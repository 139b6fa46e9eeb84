"""The seed design's own paths answer as its diagrams say (charge, then save; failures
cached; the reconciler completes RECONCILE rows by charge id). The gate only needs seed to
break somewhere, so without these a mutant of a seed-only path passes the kill suite."""

from __future__ import annotations

import pytest

from core.domain import Outcome, Payment, PaymentRequest, PaymentState, Response
from core.effects import (
    ChargeResult,
    DbTransaction,
    LockAcquire,
    OutcomeUnknown,
    PaymentInsert,
    ProviderCharge,
    Sleep,
    Unavailable,
)
from core.flows.payment import RedisKeys, payment_flow
from core.runtime.driver import FlowDriver
from core.runtime.interceptor import Scripted, on
from core.runtime.stepper import Stepper
from core.runtime.sync import MemoryRuntime, answer
from core.runtime.world import World
from core.variants import HARDENED, SEED

REQUEST = PaymentRequest("m-1", "o-1", 1999, "usd", "tok_visa", "k-1")


def submit(rt: MemoryRuntime, request: PaymentRequest = REQUEST) -> Response:
    response = rt.submit(request)
    assert response is not None
    return response


def test_seed_pays_then_replays_from_the_cache_and_from_the_row() -> None:
    rt = MemoryRuntime(World(SEED))
    paid = submit(rt)
    (charge,) = rt.world.stripe.charges.values()
    assert (paid.status, paid.outcome, paid.code, paid.charge_id, paid.amount) == (
        201,
        Outcome.PAID,
        "payment_completed",
        charge.id,
        1999,
    )
    assert charge.idempotency_key == "k-1" and "payment_id" not in charge.metadata
    row = rt.world.postgres.payments[paid.payment_id or ""]
    assert (row.state, row.charge_id) == (PaymentState.COMPLETED, charge.id)
    assert rt.world.postgres.order_paid_by("m-1", "o-1") == row.id
    keys = RedisKeys.for_request(SEED, REQUEST)
    assert keys.cache == "idempotency:k-1" and keys.lock == "lock:k-1"
    assert rt.world.redis.get(keys.cache) == paid and rt.world.redis.get(keys.lock) is None
    assert rt.world.redis.ttl_ms(keys.cache) == SEED.cache_ttl_ms
    cached = submit(rt)
    assert cached.replayed and cached.body() == paid.body() and cached.status == 201
    rt.world.redis.lose_data()
    from_row = submit(rt)
    assert from_row.replayed and from_row.body() == paid.body() and from_row.status == 201
    assert len(rt.world.stripe.charges) == 1


def test_seed_caches_a_decline_as_402_with_its_code() -> None:
    rt = MemoryRuntime(World(SEED))
    declined = submit(rt, PaymentRequest("m-1", "o-1", 1999, "usd", "tok_chargeDeclined", "k-1"))
    assert (declined.status, declined.outcome, declined.code) == (
        402,
        Outcome.FAILED,
        "generic_decline",
    )
    assert declined.message == "the card was declined"
    again = submit(rt, PaymentRequest("m-1", "o-1", 1999, "usd", "tok_chargeDeclined", "k-1"))
    assert again.replayed and again.body() == declined.body()
    assert rt.world.postgres.payments == {}


def test_seed_caches_a_provider_error_as_a_failed_502() -> None:
    faults = Scripted().fail_after(on(ProviderCharge), OutcomeUnknown("read timeout"))
    rt = MemoryRuntime(World(SEED), faults)
    failed = submit(rt)
    assert (failed.status, failed.outcome, failed.code) == (502, Outcome.FAILED, "provider_error")
    assert failed.message == "read timeout"
    again = submit(rt)
    assert again.replayed and again.status == 502 and len(rt.world.stripe.charges) == 1


def test_seed_save_failure_is_500_and_its_reconciler_completes_the_row_by_charge_id() -> None:
    faults = Scripted().fail_before(on(DbTransaction), Unavailable("postgres: commit failed"))
    rt = MemoryRuntime(World(SEED), faults)
    failed = submit(rt)
    assert (failed.status, failed.outcome, failed.code) == (500, Outcome.ERROR, "save_failed")
    assert failed.message == "charged, but the save failed"
    (row,) = rt.world.postgres.payments.values()
    (charge,) = rt.world.stripe.charges.values()
    assert (row.state, row.charge_id) == (PaymentState.RECONCILE, charge.id)
    retry = submit(rt)  # the row is found, not final: 'processing', nothing charged again
    assert (retry.status, retry.outcome, retry.code) == (202, Outcome.PENDING, "payment_processing")
    assert retry.replayed and retry.payment_id == row.id and len(rt.world.stripe.charges) == 1
    report = rt.reconcile()
    assert report is not None and report.completed == [row.id] and report.examined == 1
    assert rt.world.postgres.payments[row.id].state is PaymentState.COMPLETED
    assert rt.world.postgres.order_paid_by("m-1", "o-1") == row.id


def drive_with_charge_answer(world: World, answer_with: ChargeResult) -> Response:
    """Run one request, answering its provider charge with ``answer_with`` (as a live
    adapter might: a decline without a code) and every other effect from the models."""
    driver: FlowDriver[Response] = FlowDriver(payment_flow(REQUEST, world.variant, "a1"))
    while not driver.done:
        if isinstance(driver.pending, ProviderCharge):
            driver.send(answer_with)
        else:
            answer(world, driver, "a1", None)
    assert driver.result is not None
    return driver.result


def test_a_decline_without_a_code_is_card_declined_in_seed_and_payment_failed_in_hardened() -> None:
    declined = ChargeResult("ch_1", False, 1999, "usd", None)
    seed = drive_with_charge_answer(World(SEED), declined)
    assert (seed.status, seed.outcome, seed.code) == (402, Outcome.FAILED, "card_declined")
    hardened = drive_with_charge_answer(World(HARDENED), declined)
    assert (hardened.status, hardened.outcome, hardened.code) == (
        402,
        Outcome.FAILED,
        "payment_failed",
    )
    assert hardened.charge_id == "ch_1"


def test_seeds_reconciler_leaves_a_row_whose_charge_is_missing_or_declined() -> None:
    world = World(SEED)
    rt = MemoryRuntime(world)
    declined = world.stripe.charge("kd", 1999, "usd", "tok_chargeDeclined", {})
    for pid, charge_id in (
        ("p-missing", "ch_nope"),
        ("p-declined", declined.charge_id),
        ("p-none", None),
    ):
        row = Payment(pid, "m-1", f"o-{pid}", f"k-{pid}", 1999, "usd", "tok_visa", "fp", "pk",
                      PaymentState.RECONCILE, 0, charge_id)  # fmt: skip
        world.postgres.execute([PaymentInsert(row)])
    report = rt.reconcile()
    assert report is not None and report.examined == 3 and report.completed == []
    assert sorted(report.left) == ["p-declined", "p-missing", "p-none"]
    assert all(p.state is PaymentState.RECONCILE for p in world.postgres.payments.values())


def test_seeds_unscoped_lookup_shows_another_merchants_row() -> None:
    """The seed looks a key up without its merchant (``db_lookup_scoped`` off): once the
    cache is gone, merchant m-2 reusing m-1's key is answered with m-1's payment."""
    rt = MemoryRuntime(World(SEED))
    first = submit(rt)
    rt.world.redis.lose_data()
    other = submit(rt, PaymentRequest("m-2", "o-9", 1999, "usd", "tok_visa", "k-1"))
    assert other.replayed and other.payment_id == first.payment_id and other.merchant == "m-1"
    assert len(rt.world.stripe.charges) == 1


def test_seed_waiting_for_a_busy_lock_never_deletes_the_holders_lock_on_an_error() -> None:
    """The seed releases by plain DEL; a request that only waited for the lock (it never
    held it) must not release it when an unexpected exception meets it while waiting."""
    world = World(SEED)
    keys = RedisKeys.for_request(SEED, REQUEST)
    world.redis.set(keys.lock, "holder", px=SEED.lock_ttl_ms, nx=True)
    driver: FlowDriver[Response] = FlowDriver(payment_flow(REQUEST, SEED, "a1"))
    with pytest.raises(RuntimeError, match="boom"):
        while not driver.done:
            if isinstance(driver.pending, Sleep):
                driver.throw(RuntimeError("boom"))
            else:
                answer(world, driver, "a1", None)
    assert world.redis.get(keys.lock) == "holder"


def test_seed_without_redis_is_503_with_the_reason() -> None:
    rt = MemoryRuntime(World(SEED))
    rt.world.redis.available = False
    down = submit(rt)
    assert (down.status, down.code, down.message) == (
        503,
        "backend_unavailable",
        "redis: connection refused",
    )
    assert rt.world.stripe.charges == {}


def test_seeds_lock_holds_the_requests_token() -> None:
    stepper = Stepper(World(SEED))
    attempt = stepper.submit(REQUEST)
    while stepper.flows[attempt].pending_name != "PaymentFind":
        stepper.step(attempt)
    assert stepper.world.redis.get(RedisKeys.for_request(SEED, REQUEST).lock) == attempt


def test_seeds_error_path_deletes_whatever_lock_is_there() -> None:
    """The seed's plain DEL (``lock_release_checks_token`` off): a request whose lock expired
    and was taken by another deletes that other lock on its error path."""
    world = World(SEED)
    keys = RedisKeys.for_request(SEED, REQUEST)
    driver: FlowDriver[Response] = FlowDriver(payment_flow(REQUEST, SEED, "a1"))
    with pytest.raises(RuntimeError, match="boom"):
        while not driver.done:
            if isinstance(driver.pending, ProviderCharge):
                world.clock.advance(SEED.lock_ttl_ms)
                assert world.redis.set(keys.lock, "other", px=SEED.lock_ttl_ms, nx=True)
                driver.throw(RuntimeError("boom"))
            else:
                answer(world, driver, "a1", None)
    assert world.redis.get(keys.lock) is None


def test_seed_never_deletes_a_lock_it_was_still_trying_to_take() -> None:
    """An unexpected exception at the lock step itself (``SET NX`` refused: another holds
    it): the seed, which cannot tell whose lock it is, leaves it to its TTL."""
    world = World(SEED)
    keys = RedisKeys.for_request(SEED, REQUEST)
    world.redis.set(keys.lock, "holder", px=SEED.lock_ttl_ms, nx=True)
    driver: FlowDriver[Response] = FlowDriver(payment_flow(REQUEST, SEED, "a1"))
    with pytest.raises(RuntimeError, match="boom"):
        while not driver.done:
            if isinstance(driver.pending, LockAcquire):
                driver.throw(RuntimeError("boom"))
            else:
                answer(world, driver, "a1", None)
    assert world.redis.get(keys.lock) == "holder"
