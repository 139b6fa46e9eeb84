"""Paths only a design with one of hardened's decisions undone takes (the gate's flag
mutants): each answers as its mutant's description in ``verify/mutants.py`` says. The gate
only needs each flag mutant to break a property somewhere; these pin what it answers, so a
mutation of such a path in the core cannot hide behind the gate."""

from __future__ import annotations

from core.domain import Outcome, PaymentRequest, PaymentState, Response
from core.effects import (
    CachePutAndRelease,
    Conflict,
    OutcomeUnknown,
    PaymentTransition,
    ProviderCharge,
    Unavailable,
)
from core.flows.payment import RedisKeys
from core.runtime.interceptor import Scripted, on
from core.runtime.stepper import Stepper
from core.runtime.sync import MemoryRuntime
from core.runtime.world import World
from core.variants import HARDENED, HOUR_MS

REQUEST = PaymentRequest("m-1", "o-1", 1999, "usd", "tok_visa", "k-1")


def submit(rt: MemoryRuntime, request: PaymentRequest = REQUEST) -> Response:
    response = rt.submit(request)
    assert response is not None
    return response


def test_unknown_cached_as_failure_answers_a_lost_reply_502_and_caches_it() -> None:
    variant = HARDENED.with_changes("cached", "test", unknown_is_pending=False, cache_failures=True)
    faults = Scripted().fail_after(on(ProviderCharge), OutcomeUnknown("stripe: read timeout"))
    rt = MemoryRuntime(World(variant), faults)
    failed = submit(rt)
    assert (failed.status, failed.outcome, failed.code, failed.message) == (
        502,
        Outcome.FAILED,
        "provider_error",
        "stripe: read timeout",
    )
    assert failed.payment_id is None and failed.retry_after_s is None
    assert rt.world.redis.get(RedisKeys.for_request(variant, REQUEST).cache) == failed
    again = submit(rt)
    assert again.replayed and again.body() == failed.body()
    (row,) = rt.world.postgres.payments.values()
    assert row.state is PaymentState.PENDING, "the row is left for the reconciler"


def test_an_unscoped_provider_key_fails_the_second_merchant_with_the_providers_error() -> None:
    variant = HARDENED.with_changes("unscoped", "test", scope_provider_key=False)
    rt = MemoryRuntime(World(variant))
    assert submit(rt).status == 201
    rt.world.redis.lose_data()  # else the unscoped cache key answers first (422)
    other = submit(rt, PaymentRequest("m-2", "o-9", 2999, "usd", "tok_visa", "k-1"))
    assert (other.status, other.outcome, other.code) == (
        500,
        Outcome.FAILED,
        "provider_idempotency_error",
    )
    assert other.message.startswith("Keys for idempotent requests can only be used with the same")
    rows = {p.merchant: p for p in rt.world.postgres.payments.values()}
    assert rows["m-2"].state is PaymentState.FAILED and rows["m-2"].error == other.message
    assert [t.source for t in rt.world.postgres.transitions if t.payment_id == rows["m-2"].id] == [
        PaymentState.PENDING
    ]
    assert len(rt.world.stripe.charges) == 1


def test_a_lost_compare_and_set_after_an_idempotency_error_is_a_409() -> None:
    """Someone else moved the row while the provider refused the key: nothing final to say."""
    variant = HARDENED.with_changes("unscoped", "test", scope_provider_key=False)
    rt = MemoryRuntime(World(variant))
    submit(rt)
    rt.world.redis.lose_data()
    rt.faults = Scripted().fail_before(on(PaymentTransition), Conflict("compare-and-set refused"))
    busy = submit(rt, PaymentRequest("m-2", "o-9", 2999, "usd", "tok_visa", "k-1"))
    assert (busy.status, busy.outcome, busy.code) == (409, Outcome.IN_FLIGHT, "request_in_flight")
    assert busy.retry_after_s == 1


def test_charge_before_pending_replays_its_own_row_and_keeps_merchants_apart() -> None:
    variant = HARDENED.with_changes("late-row", "test", pending_before_charge=False)
    rt = MemoryRuntime(World(variant))
    first = submit(rt)
    assert first.status == 201
    rt.world.redis.lose_data()
    again = submit(rt)  # answered from the row found by (merchant, key)
    assert (again.status, again.replayed) == (201, True) and again.body() == first.body()
    other = submit(rt, PaymentRequest("m-2", "o-1", 1999, "usd", "tok_visa", "k-1"))
    assert (other.status, other.replayed) == (201, False)
    assert other.payment_id != first.payment_id and len(rt.world.stripe.charges) == 2


def test_provider_errors_are_not_cached_unless_the_design_caches_failures() -> None:
    variant = HARDENED.with_changes("uncached", "test", unknown_is_pending=False)
    faults = Scripted().fail_after(on(ProviderCharge), OutcomeUnknown("stripe: read timeout"))
    rt = MemoryRuntime(World(variant), faults)
    assert submit(rt).status == 502
    assert rt.world.redis.get(RedisKeys.for_request(variant, REQUEST).cache) is None


def test_a_fingerprint_without_the_amount_replays_a_key_reused_for_another_amount() -> None:
    variant = HARDENED.with_changes("no-amount", "test", fingerprint_includes_amount=False)
    rt = MemoryRuntime(World(variant))
    first = submit(rt)
    other = submit(rt, PaymentRequest("m-1", "o-1", 5000, "usd", "tok_visa", "k-1"))
    assert other.replayed and other.body() == first.body() and other.amount == 1999


def test_reconcile_after_key_window_re_asks_by_key_a_day_later() -> None:
    variant = HARDENED.with_changes("late", "test", reconcile_respects_key_window=False)
    faults = Scripted().fail_after(on(ProviderCharge), OutcomeUnknown("read timeout"))
    rt = MemoryRuntime(World(variant), faults)
    submit(rt)
    rt.world.clock.advance(23 * HOUR_MS)  # past hardened's 22 h edge, inside Stripe's 24 h
    again = submit(rt)
    assert (again.status, again.outcome) == (201, Outcome.PAID) and len(
        rt.world.stripe.charges
    ) == 1


def test_a_reconciler_without_stale_pending_leaves_a_crashed_rows_pending() -> None:
    variant = HARDENED.with_changes("rec-only", "test", reconcile_pending=False)
    stepper = Stepper(World(variant))
    attempt = stepper.submit(REQUEST)
    while stepper.flows[attempt].pending_name != "ProviderCharge":
        stepper.step(attempt)
    stepper.crash(attempt)
    for wait in (0, variant.stale_after_ms + 1):
        stepper.world.clock.advance(wait)
        report = stepper.reconcile()
        assert report is not None and report.examined == 0


def test_a_design_that_needs_redis_answers_503_when_its_answer_cannot_be_cached() -> None:
    variant = HARDENED.with_changes("needs-redis", "test", proceed_without_redis=False)
    faults = Scripted().fail_before(on(CachePutAndRelease), Unavailable("redis: went away"))
    rt = MemoryRuntime(World(variant), faults)
    down = submit(rt)
    assert (down.status, down.code, down.message) == (
        503,
        "backend_unavailable",
        "redis: went away",
    )
