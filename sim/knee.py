"""Finding the knee: the highest load a system carries within its latency SLO.

One search serves the live ramp (``loadtests.bench.ramp``) and the simulator's capacity
sweep (``sim.capacity_search``): grow the offered rate while levels hold, then bisect
geometrically between the highest rate that held and the lowest that failed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar


class Judged(Protocol):
    """A level offered at ``rate`` that ``held`` its SLO (or not), carrying ``achieved``."""

    @property
    def rate(self) -> float: ...

    @property
    def held(self) -> bool: ...

    @property
    def achieved(self) -> float: ...


L = TypeVar("L", bound=Judged)


def next_rate(
    levels: Sequence[Judged],
    *,
    growth: float,
    max_rate: float,
    bisect: int,
    repeat_failures: bool = False,
    close: float = 1.05,
) -> float | None:
    """The rate to offer next, or None when the knee is found.

    Up by ``growth`` while every level holds (None past ``max_rate``); after the first rate
    that fails, bisect (geometrically) between the highest rate that held and the lowest that
    failed, at most ``bisect`` times and while they are more than ``close`` apart. With
    ``repeat_failures`` a failed level is offered once more before its rate counts as failed
    (a live machine pauses; a seeded simulation gives the same answer twice)."""
    last = levels[-1]
    if repeat_failures and not last.held and sum(1 for lv in levels if lv.rate == last.rate) == 1:
        return last.rate
    held = [lv.rate for lv in levels if lv.held]
    failed = {lv.rate for lv in levels if not lv.held} - set(held)
    if not failed:
        rate = max(held) * growth
        return rate if rate <= max_rate else None
    if not held:
        return None
    lo, hi = max(held), min(failed)
    first = next(i for i, lv in enumerate(levels) if lv.rate in failed)
    bisected = len({lv.rate for lv in levels[first + 1 :]} - {levels[first].rate})
    if lo >= hi or hi / lo <= close or bisected >= bisect:
        return None
    return float((lo * hi) ** 0.5)


def knee(levels: Sequence[L]) -> L | None:
    """The level with the highest achieved throughput among those that held."""
    held = [lv for lv in levels if lv.held]
    return max(held, key=lambda lv: lv.achieved) if held else None
