"""The reconciler's and the resumed request's time boundaries, to the millisecond, and its
fence against a stale read. Part of mutmut's kill suite: the gate reaches these edges only by
chance, so an off-by-one in a window or a dropped compare-and-set can pass it."""

from __future__ import annotations

from core.domain import Outcome, Payment, PaymentRequest, PaymentState, Response
from core.effects import OutcomeUnknown, PaymentInsert, PaymentsToReconcile, ProviderCharge
from core.flows.reconcile import ReconcileReport, reconcile_flow
from core.runtime.driver import FlowDriver
from core.runtime.interceptor import Scripted, on
from core.runtime.sync import MemoryRuntime, answer
from core.runtime.world import World
from core.variants import HARDENED, HOUR_MS, PROVIDER_KEY_WINDOW_MS

REQUEST = PaymentRequest("m-1", "o-1", 1999, "usd", "tok_visa", "k-1")
EDGE_MS = PROVIDER_KEY_WINDOW_MS - HARDENED.reconcile_margin_ms
"""Hardened re-asks Stripe by key only while a row is younger than this (22 h)."""


def lost_reply(world: World | None = None) -> tuple[MemoryRuntime, Response]:
    """A payment whose charge executed but whose reply was lost: a RECONCILE row at t=0."""
    faults = Scripted().fail_after(on(ProviderCharge), OutcomeUnknown("read timeout"))
    rt = MemoryRuntime(world or World(HARDENED), faults)
    pending = rt.submit(REQUEST)
    assert pending is not None and pending.status == 202
    return rt, pending


def test_a_retry_resumes_the_row_only_strictly_inside_the_key_window() -> None:
    inside, _ = lost_reply()
    inside.world.clock.advance(EDGE_MS - 1)
    resumed = inside.submit(REQUEST)
    assert resumed is not None and (resumed.status, resumed.outcome) == (201, Outcome.PAID)
    at_edge, pending = lost_reply()
    at_edge.world.clock.advance(EDGE_MS)
    waiting = at_edge.submit(REQUEST)
    assert waiting is not None
    assert (waiting.status, waiting.outcome, waiting.replayed) == (202, Outcome.PENDING, True)
    assert waiting.payment_id == pending.payment_id


def test_past_the_key_window_the_reconciler_completes_a_row_by_lookup() -> None:
    rt, pending = lost_reply()
    rt.world.clock.advance(EDGE_MS)
    report = rt.reconcile()
    assert report is not None
    assert (report.completed, report.failed, report.left) == ([pending.payment_id], [], [])
    (charge,) = rt.world.stripe.charges.values()
    row = rt.world.postgres.payments[pending.payment_id or ""]
    assert (row.state, row.charge_id) == (PaymentState.COMPLETED, charge.id)


def test_a_lookup_decides_a_replayed_500_exactly_at_the_request_deadline() -> None:
    trusted_after = max(HARDENED.stale_after_ms, HARDENED.request_deadline_ms)
    assert trusted_after == HOUR_MS
    for age, left in ((trusted_after - 1, True), (trusted_after, False)):
        rt = MemoryRuntime(World(HARDENED))
        rt.world.clock.advance(1000)  # rows are not created at t=0
        pending = rt.submit(PaymentRequest("m-1", "o-1", 1999, "usd", "tok_500", "k-1"))
        assert pending is not None and pending.status == 202
        rt.world.clock.advance(age)
        report = rt.reconcile()
        assert report is not None
        assert report.left == ([pending.payment_id] if left else [])
        assert report.failed == ([] if left else [pending.payment_id])


def test_a_reconciler_that_read_a_stale_row_cannot_fail_a_completed_payment() -> None:
    """Its read said RECONCILE; meanwhile the payment completed. The lookup finds no charge
    listed (the charge's metadata names it, but this row was never charged under it), and the
    FAILED write must be refused by its compare-and-set."""
    world = World(HARDENED)
    stale = Payment("pay_1", "m-1", "o-1", "k-1", 1999, "usd", "tok_visa", "fp", "pk",
                    PaymentState.RECONCILE, 0)  # fmt: skip
    done = stale.evolve(PaymentState.COMPLETED, "ch_elsewhere", None)
    world.postgres.payments[done.id] = done
    world.clock.advance(PROVIDER_KEY_WINDOW_MS)
    driver: FlowDriver[ReconcileReport] = FlowDriver(reconcile_flow(HARDENED))
    while not driver.done:
        if isinstance(driver.pending, PaymentsToReconcile):
            driver.send((stale,))
        else:
            answer(world, driver, "r1", None)
    report = driver.result
    assert report is not None and report.left == ["pay_1"] and report.failed == []
    assert world.postgres.payments["pay_1"].state is PaymentState.COMPLETED
    # the blind-transitions design writes it anyway: the bug its mutant stands for
    blind = HARDENED.with_changes("blind", "test", cas_transitions=False)
    driver = FlowDriver(reconcile_flow(blind))
    while not driver.done:
        if isinstance(driver.pending, PaymentsToReconcile):
            driver.send((stale,))
        else:
            answer(world, driver, "r2", None)
    assert world.postgres.payments["pay_1"].state is PaymentState.FAILED


def test_a_design_that_reconciles_with_a_fresh_key_charges_under_that_key() -> None:
    """The ``reconcile-fresh-key`` mutant's bug, as its variant flag spells it: the re-ask
    goes out under ``<provider key>:reconcile:<now>``, a new key, so it charges again."""
    variant = HARDENED.with_changes("fresh-key", "test", reconcile_with_original_key=False)
    rt, pending = lost_reply(World(variant))
    rt.world.clock.advance(5)
    report = rt.reconcile()
    assert report is not None and report.completed == [pending.payment_id]
    first, second = rt.world.stripe.charges.values()
    assert second.idempotency_key == f"{first.idempotency_key}:reconcile:5"
    assert (second.amount, second.currency, dict(second.metadata)) == (
        first.amount,
        first.currency,
        dict(first.metadata),
    )


def test_a_declined_charge_whose_reply_was_lost_is_reconciled_failed() -> None:
    faults = Scripted().fail_after(on(ProviderCharge), OutcomeUnknown("read timeout"))
    rt = MemoryRuntime(World(HARDENED), faults)
    declined = PaymentRequest("m-1", "o-1", 1999, "usd", "tok_chargeDeclined", "k-1")
    pending = rt.submit(declined)
    assert pending is not None and pending.status == 202
    report = rt.reconcile()
    assert report is not None
    assert (report.failed, report.completed, report.left) == ([pending.payment_id], [], [])


def test_one_pass_takes_at_most_its_limit() -> None:
    world = World(HARDENED)
    for n in range(3):
        row = Payment(f"pay_{n}", "m-1", f"o-{n}", f"k-{n}", 1999, "usd", "tok_visa", "fp",
                      f"pk-{n}", PaymentState.RECONCILE, 0)  # fmt: skip
        world.postgres.execute([PaymentInsert(row)])
    world.clock.advance(PROVIDER_KEY_WINDOW_MS)
    driver: FlowDriver[ReconcileReport] = FlowDriver(reconcile_flow(HARDENED, limit=2))
    while not driver.done:
        answer(world, driver, "r1", None)
    assert driver.result is not None and driver.result.examined == 2


def test_a_pass_takes_a_hundred_rows_by_default() -> None:
    world = World(HARDENED)
    for n in range(101):
        row = Payment(f"pay_{n:03d}", "m-1", f"o-{n}", f"k-{n}", 1999, "usd", "tok_visa", "fp",
                      f"pk-{n}", PaymentState.RECONCILE, 0)  # fmt: skip
        world.postgres.execute([PaymentInsert(row)])
    world.clock.advance(PROVIDER_KEY_WINDOW_MS)
    report = MemoryRuntime(world).reconcile()
    assert report is not None and report.examined == 100
