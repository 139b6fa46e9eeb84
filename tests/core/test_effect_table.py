"""The one effect table: it answers every effect type there is, and the memory world and the
live transport both dispatch through it (neither keeps a table of its own)."""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import pytest

import core.effects
from core.domain import Payment, PaymentState
from core.effects import Backend, CacheGet, ChargeResult, Effect, LockAcquire
from core.flows import reconcile
from core.runtime.backends import Backends
from core.runtime.driver import FlowDriver
from core.runtime.effect_table import HANDLERS
from core.runtime.world import World
from core.variants import variant_named
from live.config import LiveConfig
from live.transport import LiveTransport


def effect_types() -> set[type[Any]]:
    return {
        cls
        for _name, cls in inspect.getmembers(core.effects, inspect.isclass)
        if issubclass(cls, Effect) and cls is not Effect and cls.__module__ == core.effects.__name__
    }


def test_the_table_answers_every_effect_type_and_nothing_else() -> None:
    types = effect_types()
    assert len(types) >= 18  # the scan itself found the effects
    missing = sorted(t.__name__ for t in types - set(HANDLERS))
    extra = sorted(t.__name__ for t in set(HANDLERS) - types)
    assert not missing, f"effects with no handler in core/runtime/effect_table.py: {missing}"
    assert not extra, f"handlers for types that are not effects: {extra}"


@dataclass(frozen=True, slots=True)
class Probe(Effect[str]):
    backend: ClassVar[Backend] = "clock"


def probe(backends: Backends, effect: Probe) -> Any:
    return ("answered from the table", backends)


async def probe_async(backends: Backends, effect: Probe) -> Any:
    return ("answered from the table", backends)


def live_transport() -> LiveTransport:
    """Built, never opened: no server is needed to dispatch to a probe."""
    return LiveTransport(LiveConfig(), variant_named("hardened"))


def test_world_and_live_transport_dispatch_through_the_one_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World(variant_named("hardened"))
    transport = live_transport()
    monkeypatch.setitem(HANDLERS, Probe, probe)  # type: ignore[index]
    assert world.perform(Probe()) == ("answered from the table", world.backends)
    monkeypatch.setitem(HANDLERS, Probe, probe_async)  # type: ignore[index]
    answer = asyncio.run(transport.perform(Probe()))
    assert answer == ("answered from the table", transport.backends)
    asyncio.run(transport.close())


def test_without_its_entry_in_the_table_neither_runtime_can_answer_an_effect(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World(variant_named("hardened"))
    transport = live_transport()
    monkeypatch.delitem(HANDLERS, CacheGet)  # type: ignore[attr-defined]
    with pytest.raises(KeyError):
        world.perform(CacheGet("k"))
    with pytest.raises(KeyError):
        asyncio.run(transport.perform(CacheGet("k")))
    asyncio.run(transport.close())


def test_a_replaced_model_is_the_one_the_world_answers_from() -> None:
    """Tests swap in reference models; the backends must follow, not answer from the old."""
    world = World(variant_named("hardened"))
    old = world.redis
    world.redis = type(old)(world.clock)
    assert world.perform(LockAcquire("k", "token", 1_000)) is True
    assert world.redis.get("k") == "token"
    assert old.get("k") is None


def charge_of(world: World, row: Payment) -> ChargeResult | None:
    driver: FlowDriver[ChargeResult | None] = FlowDriver(reconcile._charge_of(row))
    while not driver.done:
        assert driver.pending is not None
        driver.send(world.perform(driver.pending))
    return driver.result


def test_the_reconcile_flow_not_the_provider_decides_which_charge_counts() -> None:
    """By charge id when the row has one; else the oldest succeeded charge made for the
    payment, over an older decline; else the oldest; none when there is none."""
    world = World(variant_named("hardened"))
    row = Payment(
        "p1", "m", "o", "k", 1_000, "usd", "tok_visa", "f", "pk", PaymentState.PROCESSING, 0
    )
    assert charge_of(world, row) is None
    meta = {"payment_id": "p1"}
    declined = world.stripe.charge("a", 1_000, "usd", "tok_chargeDeclined", meta)
    assert charge_of(world, row) == replace(declined, decline_code="card_declined")
    first = world.stripe.charge("b", 1_000, "usd", "tok_visa", meta)
    world.stripe.charge("c", 1_000, "usd", "tok_visa", meta)
    assert charge_of(world, row) == first
    by_id = charge_of(world, replace(row, charge_id=declined.charge_id))
    assert by_id is not None and by_id.charge_id == declined.charge_id
