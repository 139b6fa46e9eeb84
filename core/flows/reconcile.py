"""The reconciliation flow: resolve payments whose outcome the gateway does not know.

The seed's job ("Check Stripe → Update DB") looks RECONCILE rows up by charge id. The
hardened job also takes stale PENDING/PROCESSING rows (a server died mid-flow) and asks the
provider again *with the payment's own key*: inside the provider's 24 h window that is a
replay (or a 409 while the first request still runs), never a second charge. Outside the
window it only looks the charge up by the payment's metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from core.domain import Payment, PaymentState
from core.effects import (
    ChargeResult,
    ClockRead,
    Conflict,
    DbTransaction,
    Fault,
    Flow,
    IdempotencyMismatch,
    OutcomeUnknown,
    PaymentsToReconcile,
    PaymentTransition,
    ProviderCharge,
    ProviderChargesForPayment,
    ProviderRetrieve,
    Unavailable,
    perform,
)
from core.flows.payment import (
    charge_effect,
    completion_writes,
    settle,
    within_key_window,
)
from core.providers import STRIPE, ProviderContract
from core.variants import Variant


@dataclass(slots=True)
class ReconcileReport:
    """What one pass did, for logs and the checker's notes."""

    examined: int = 0
    completed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)


def reconcile_flow(
    variant: Variant, *, limit: int = 100, provider: ProviderContract = STRIPE
) -> Flow[ReconcileReport]:
    """One pass over the rows that need it, against the provider ``provider`` describes."""
    report = ReconcileReport()
    now = yield from perform(ClockRead())
    stale_before = now - variant.stale_after_ms if variant.reconcile_pending else -(2**62)
    try:
        rows = yield from perform(PaymentsToReconcile(stale_before, limit))
    except Fault:
        return report  # the database is out of reach: nothing to resolve this pass
    for row in rows:
        report.examined += 1
        try:
            state = yield from _resolve(variant, row, now, provider)
        except Fault:
            state = None
        if state is PaymentState.COMPLETED:
            report.completed.append(row.id)
        elif state is PaymentState.FAILED:
            report.failed.append(row.id)
        else:
            report.left.append(row.id)
    return report


def _resolve(
    variant: Variant, row: Payment, now: int, provider: ProviderContract = STRIPE
) -> Flow[PaymentState | None]:
    if not variant.pending_before_charge:
        return (yield from _resolve_by_charge_id(variant, row))
    if within_key_window(variant, row, now, provider):
        try:
            result = yield from perform(_reconcile_charge(variant, row, now))
        except Conflict:
            return None  # the first request is still executing at the provider
        except (OutcomeUnknown, Unavailable, IdempotencyMismatch):
            # A lookup that finds nothing proves nothing while a paused server or a client's
            # retry may still charge under this key (E4 on a row failed by lookup): only past
            # the request deadline, and the provider's search lag, does the lookup decide.
            trusted_after = variant.stale_after_ms
            if variant.lookup_waits_for_request_deadline:
                trusted_after = max(trusted_after, variant.request_deadline_ms)
            if variant.lookup_waits_for_provider_lag:
                trusted_after += provider.lookup_lag_ms
            if now - row.created_ms < trusted_after:
                return None  # ask again next pass
            return (yield from _resolve_by_lookup(variant, row))
        response = yield from settle(variant, row, result, None)
        return _state_of(response.outcome.value)
    return (yield from _resolve_by_lookup(variant, row))


def _reconcile_charge(variant: Variant, row: Payment, now: int) -> ProviderCharge:
    effect = charge_effect(variant, row)
    if variant.reconcile_with_original_key:
        return effect
    return replace(effect, idempotency_key=f"{row.provider_key}:reconcile:{now}")


def _resolve_by_lookup(variant: Variant, row: Payment) -> Flow[PaymentState | None]:
    """Outside the key window: find the charge by metadata; none means never charged."""
    found = yield from _charge_of(row)
    if found is None:
        if row.state is PaymentState.PROCESSING:
            return None  # charged for sure (PROCESSING), so keep looking; never fail it
        expected = row.state if variant.cas_transitions else None
        failed = PaymentTransition(row.id, expected, PaymentState.FAILED, error="not_charged")
        yield from perform(DbTransaction((failed,)))
        return PaymentState.FAILED
    response = yield from settle(variant, row, found, None)
    return _state_of(response.outcome.value)


def _resolve_by_charge_id(variant: Variant, row: Payment) -> Flow[PaymentState | None]:
    """The seed's job: RECONCILE rows carry their charge id; look it up, mark COMPLETED."""
    if row.charge_id is None:
        return None
    found = yield from perform(ProviderRetrieve(row.charge_id))
    if found is None or not found.succeeded:
        return None
    yield from perform(DbTransaction(completion_writes(variant, row, found.charge_id)))
    return PaymentState.COMPLETED


def _charge_of(row: Payment) -> Flow[ChargeResult | None]:
    """The charge that counts for ``row``: the one its charge id names, else, among the charges
    whose metadata names the payment, the oldest that succeeded (money moved: the payment is
    paid even after a declined attempt), else the oldest. The provider only lists; this decides."""
    if row.charge_id is not None:
        found = yield from perform(ProviderRetrieve(row.charge_id))
        if found is not None:
            return found
    matches = yield from perform(ProviderChargesForPayment(row.id))
    succeeded = [c for c in matches if c.succeeded]
    chosen = succeeded or matches
    return chosen[0] if chosen else None


def _state_of(outcome: str) -> PaymentState | None:
    return {"paid": PaymentState.COMPLETED, "failed": PaymentState.FAILED}.get(outcome)
