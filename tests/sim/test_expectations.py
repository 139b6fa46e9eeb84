"""What the scenarios claim: hardened holds every property everywhere; seed is caught by at
least three scenarios, each violation carrying a trace that names its key or order."""

from __future__ import annotations

import pytest

from core.checker import PROPERTIES
from sim.scenario import load_all
from tests.sim.conftest import judged

NAMES = [s.name for s in load_all()]


@pytest.mark.parametrize("name", NAMES)
def test_hardened_holds_every_property(name: str) -> None:
    result = judged(name, "hardened")
    broken = {p: v for p, v in result.summary["properties"].items() if v != "holds"}
    assert broken == {}, result.verdict.render()[:4000]
    assert result.summary["expectation"]["met"]
    assert result.summary["payments"] > 0


@pytest.mark.parametrize("name", NAMES)
def test_seed_meets_the_scenario_expectation(name: str) -> None:
    result = judged(name, "seed")
    assert result.summary["expectation"]["unmet"] == [], result.verdict.render()[:4000]


def test_seed_is_caught_by_at_least_three_scenarios_with_traces() -> None:
    caught = []
    for name in NAMES:
        result = judged(name, "seed")
        if result.verdict.violations:
            caught.append(name)
            for violation in result.verdict.violations:
                assert violation.prop in PROPERTIES
                assert violation.trace, violation.message
                named = [k for _m, k in violation.keys] + [o for _m, o in violation.orders]
                assert any(n in line for n in named for line in violation.trace)
    assert len(caught) >= 3, caught
    assert {"lost_reply", "key_collision", "key_reuse"} <= set(caught)
