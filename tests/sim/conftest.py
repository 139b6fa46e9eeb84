"""Shared fixtures for the simulator tests: small, fast variations of the shipped scenarios."""

from __future__ import annotations

from functools import cache

from sim.runner import RunResult, run_scenario
from sim.scenario import Scenario, find


@cache
def scenario(name: str) -> Scenario:
    return find(name)


@cache
def judged(name: str, variant: str) -> RunResult:
    """Each shipped scenario run once per variant per test session, at its own seed."""
    return run_scenario(scenario(name), variant, record_effects=False, max_traces=1)
