"""A whole simulated run gives the same summary on the core's models as on the plain
reference models: the indexes change the speed, never the story."""

from __future__ import annotations

import pytest

from core.history import History
from core.models.clock import ModelClock
from core.runtime.world import World, schema_for
from core.variants import Variant
from sim.runner import run_scenario, summary_json
from tests.core.reference_models import ReferencePostgresModel, ReferenceStripeModel
from tests.sim.conftest import scenario


def reference_world(variant: Variant, clock: ModelClock, history: History) -> World:
    world = World(variant, clock, history, record_effects=False)
    scope, one_live = schema_for(variant)
    world.postgres = ReferencePostgresModel(clock, key_scope=scope, one_live_per_order=one_live)  # type: ignore[assignment]
    stripe = ReferenceStripeModel(clock)
    stripe.on_charge.extend(world.stripe.on_charge)
    world.stripe = stripe
    return world


@pytest.mark.parametrize("variant", ["seed", "hardened"])
def test_a_whole_run_is_identical_on_core_and_reference_models(variant: str) -> None:
    sc = scenario("bad_day")
    fast = run_scenario(sc, variant, record_effects=False)
    core = run_scenario(sc, variant, record_effects=False, world_factory=reference_world)
    assert summary_json(fast.summary) == summary_json(core.summary)
