"""The bench's own arithmetic (its figures are printed, never asserted on)."""

from __future__ import annotations

import asyncio

from loadtests.bench import Level, _rate, modelled_effects, sustained


def test_the_rate_probe_counts_every_operation_of_concurrent_workers() -> None:
    calls = 0

    async def op() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        return 1

    rate = asyncio.run(_rate(0.2, 16, op))
    assert calls > 100
    assert abs(rate * 0.2 - calls) / calls < 0.15  # the rate is calls over the window


def test_sustained_is_the_best_level_that_held() -> None:
    nan = float("nan")
    levels = [
        Level(10, 50, 50, 0, 10.0, 5, 20, True),
        Level(20, 100, 100, 0, 19.5, 5, 40, True),
        Level(30, 150, 120, 0, 24.0, 5, 900, False),
    ]
    assert sustained(levels) == 19.5
    assert sustained([Level(10, 50, 10, 40, 2.0, nan, nan, False)]) == 0.0


def test_the_hardened_flow_does_more_database_work_per_payment_than_the_seed() -> None:
    seed, hardened = modelled_effects("seed"), modelled_effects("hardened")
    assert seed["stripe"] == hardened["stripe"] == 1
    assert hardened["postgres"] > seed["postgres"] > 0
    assert seed["redis"] >= 3 and hardened["redis"] >= 3
