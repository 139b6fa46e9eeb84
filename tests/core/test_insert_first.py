"""Hardened inserts the PENDING row first and looks the key up only on a unique conflict.

The insert can break the key's index and the order's index through different rows; which
one a database reports first depends on its scan (the model: insertion order; Postgres: index
creation order). The flow must answer from the key's own row whenever it has one, and give
the order's 409 only to a key without a row."""

from __future__ import annotations

from typing import Any

import pytest

from core.domain import Outcome, Payment, PaymentRequest, PaymentState, fingerprint
from core.effects import (
    CacheGet,
    CachePut,
    ClockRead,
    Conflict,
    LockAcquire,
    LockRelease,
    PaymentFind,
    PaymentInsert,
)
from core.flows.payment import payment_flow, provider_key
from core.runtime.driver import FlowDriver
from core.runtime.sync import MemoryRuntime
from core.runtime.world import World
from core.variants import HARDENED, SEED, Variant

KEY_CONFLICT = "duplicate key value violates unique constraint payments_key"
ORDER_CONFLICT = "duplicate key value violates unique constraint payments_live_order"
REQUEST = PaymentRequest("m-1", "o-1", 1999, "usd", "tok_visa", "k-1")


def settled_row(request: PaymentRequest, state: PaymentState) -> Payment:
    return Payment(
        id="pay_first",
        merchant=request.merchant,
        order=request.order,
        idempotency_key=request.idempotency_key,
        amount=request.amount,
        currency=request.currency,
        source=request.source,
        fingerprint=fingerprint(request, include_amount=HARDENED.fingerprint_includes_amount),
        provider_key=provider_key(HARDENED, request),
        state=state,
        created_ms=1,
        charge_id="ch_1" if state is PaymentState.COMPLETED else None,
    )


def drive_to_insert_conflict(reason: str, found: Payment | None) -> tuple[list[str], Any]:
    """Run hardened up to its insert, refuse the insert with ``reason``, answer the lookup
    with ``found``, and let everything after succeed; returns the effects and the answer."""
    driver = FlowDriver(payment_flow(REQUEST, HARDENED, "a-2"))
    seen: list[str] = []
    while not driver.done:
        effect = driver.pending
        seen.append(type(effect).__name__)
        if isinstance(effect, PaymentInsert):
            driver.throw(Conflict(reason))
        elif isinstance(effect, PaymentFind):
            driver.send(found)
        elif isinstance(effect, CacheGet):
            driver.send(None)
        elif isinstance(effect, LockAcquire | LockRelease):
            driver.send(True)
        elif isinstance(effect, ClockRead):
            driver.send(2)
        elif isinstance(effect, CachePut):
            driver.send(None)
        else:  # pragma: no cover - the paths here charge nothing
            raise AssertionError(f"unexpected effect {effect!r}")
    return seen, driver.result


@pytest.mark.parametrize("reason", [KEY_CONFLICT, ORDER_CONFLICT])
def test_any_conflict_with_a_row_for_the_key_is_answered_from_that_row(reason: str) -> None:
    row = settled_row(REQUEST, PaymentState.COMPLETED)
    seen, response = drive_to_insert_conflict(reason, row)
    assert seen.index("PaymentInsert") < seen.index("PaymentFind")
    assert response.status == 201 and response.replayed and response.payment_id == row.id


def test_an_order_conflict_without_a_row_for_the_key_is_the_orders_409() -> None:
    _, response = drive_to_insert_conflict(ORDER_CONFLICT, None)
    assert response.status == 409 and response.code == "order_already_has_payment"
    assert response.outcome is Outcome.CONFLICT


def test_a_key_conflict_whose_row_is_not_found_is_in_flight() -> None:
    _, response = drive_to_insert_conflict(KEY_CONFLICT, None)
    assert response.status == 409 and response.code == "request_in_flight"


def effects_of(world: World, variant: Variant, request: PaymentRequest) -> tuple[list[str], Any]:
    driver = FlowDriver(payment_flow(request, variant, "a-1"))
    seen: list[str] = []
    while not driver.done:
        effect = driver.pending
        seen.append(type(effect).__name__)
        driver.send(world.perform(effect))
    return seen, driver.result


def test_a_new_hardened_payment_inserts_without_looking_the_key_up() -> None:
    seen, response = effects_of(World(HARDENED), HARDENED, REQUEST)
    assert response.status == 201
    assert "PaymentFind" not in seen and seen.count("PaymentInsert") == 1


def test_seed_still_looks_the_key_up_before_charging() -> None:
    seen, response = effects_of(World(SEED), SEED, REQUEST)
    assert response.status == 201
    assert seen.index("PaymentFind") < seen.index("ProviderCharge")


def test_a_retry_whose_order_was_paid_under_another_key_gets_its_own_answer() -> None:
    """Both indexes broken by different rows, the order's row the older one (so a scan meets
    it first): the retried key still gets its own final answer, not the order's 409."""
    world = World(HARDENED)
    runtime = MemoryRuntime(world)
    other = PaymentRequest("m-1", "o-1", 1999, "usd", "tok_visa", "k-other")
    declined = PaymentRequest("m-1", "o-1", 1999, "usd", "tok_chargeDeclined", "k-mine")
    first = runtime.submit(other)
    assert first is not None and first.status == 201
    # The order has a COMPLETED payment under another key; k-mine's row, FAILED (so not live),
    # is inserted after it, and Redis forgets the cached answers.
    mine = settled_row(declined, PaymentState.FAILED)
    world.postgres.execute([PaymentInsert(mine)])
    world.redis.lose_data()
    again = runtime.submit(declined)
    assert again is not None and again.status == 402 and again.replayed, again
