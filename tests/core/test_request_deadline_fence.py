"""The reconciler fails a row on a lookup only once no server can still send its charge.

Found by the property gate (10,718 examples, ci profile) once provider faults reached the
reconciler's path: a request inserted its PENDING row and paused 61 s (past the stale
threshold, well inside the hour the design assumes a request may last); the reconciler's
re-ask by key met a provider outage, it fell back to a lookup, found no charge and failed
the row; the paused server then woke, charged, and answered 402 'failed' for a charge that
succeeded (E4, E3).
"""

from __future__ import annotations

from dataclasses import replace

from core.checker import check
from core.domain import PaymentRequest, PaymentState
from core.effects import ProviderCharge, Unavailable
from core.runtime.interceptor import Scripted
from core.runtime.stepper import Stepper
from core.runtime.world import World
from core.variants import HARDENED, Variant


def _story(variant: Variant) -> tuple[Stepper, str]:
    world = World(variant)
    faults = Scripted()
    stepper = Stepper(world, faults=faults)
    request = PaymentRequest("m1", "o1", 1001, "usd", "tok_visa", "k1")
    attempt = stepper.submit(request)
    while stepper.flows[attempt].pending_name != "ProviderCharge":
        stepper.step(attempt)  # the PENDING row is in; the server pauses before its charge
    world.clock.advance(variant.stale_after_ms + 1_000)
    faults.fail_before(
        lambda a, e: a != attempt and isinstance(e, ProviderCharge),
        Unavailable("provider: 503 while the reconciler re-asks"),
    )
    stepper.reconcile()
    return stepper, attempt


def test_a_failed_re_ask_leaves_a_fresh_row_for_later_and_the_paused_server_completes_it() -> None:
    stepper, attempt = _story(HARDENED)
    world = stepper.world
    (row,) = world.postgres.payments.values()
    assert row.state is PaymentState.PENDING  # not failed: a server may still charge it
    stepper.run_to_end(attempt)
    verdict = check(list(world.history), world.final_state())
    assert verdict.ok, verdict.render()
    (row,) = world.postgres.payments.values()
    assert row.state is PaymentState.COMPLETED


def test_without_the_fence_the_paused_servers_charge_is_told_failed() -> None:
    unfenced = replace(HARDENED, lookup_waits_for_request_deadline=False)
    stepper, attempt = _story(unfenced)
    stepper.run_to_end(attempt)
    world = stepper.world
    verdict = check(list(world.history), world.final_state())
    assert "E4" in verdict.broken(), verdict.render()


def test_past_the_request_deadline_the_lookup_decides() -> None:
    world = World(HARDENED)
    faults = Scripted()
    stepper = Stepper(world, faults=faults)
    attempt = stepper.submit(PaymentRequest("m1", "o1", 1001, "usd", "tok_visa", "k1"))
    while stepper.flows[attempt].pending_name != "ProviderCharge":
        stepper.step(attempt)
    stepper.crash(attempt)  # this server is gone for good
    world.clock.advance(HARDENED.request_deadline_ms + 1_000)
    faults.fail_before(lambda a, e: isinstance(e, ProviderCharge), Unavailable("503"))
    stepper.reconcile()
    (row,) = world.postgres.payments.values()
    assert row.state is PaymentState.FAILED  # no charge anywhere, and none can come now
