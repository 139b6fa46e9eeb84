"""Finding the knee: the highest load a system carries within its latency SLO.

One search serves every user: the live ramp (``loadtests.bench.ramp``, a level at a time),
the simulator's capacity sweep (``sim.capacity_search``), bench predict's simulated and live
knees (``sim.predict``, ``loadtests.bench.predict``) and the sim report (``knee``).

``next_rate`` says what to offer after the levels so far: up by ``growth`` while every level
holds (to ``max_rate``); down by it while none has (``descend``, else stop); once a rate that
held lies below one that failed, bisect between them geometrically, at most ``bisect`` times
and while they are more than ``close`` apart. With ``repeat_failures`` a failed level is
offered once more before its rate counts as failed (a live machine pauses; a seeded
simulation gives the same answer twice). ``search`` drives it with an ``evaluate(rate)``
for at most ``max_levels`` rates and returns a ``Knee``: the highest offered rate that held,
and whether a rate above it failed (else it is only a lower bound)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar


class Judged(Protocol):
    """A level offered at ``rate`` that ``held`` its SLO (or not)."""

    @property
    def rate(self) -> float: ...

    @property
    def held(self) -> bool: ...


class Measured(Judged, Protocol):
    """A judged level that also carries the throughput it ``achieved``."""

    @property
    def achieved(self) -> float: ...


L = TypeVar("L", bound=Judged)
M = TypeVar("M", bound=Measured)


def _is_repeat(levels: Sequence[Judged], i: int) -> bool:
    """Whether level ``i`` is the second offer of a rate that failed just before it."""
    return i > 0 and not levels[i - 1].held and levels[i - 1].rate == levels[i].rate


def steps(levels: Sequence[Judged]) -> int:
    """Levels offered, a failure's repeat not counted (the budget ``max_levels`` counts)."""
    return sum(1 for i in range(len(levels)) if not _is_repeat(levels, i))


def _bisections(levels: Sequence[Judged]) -> int:
    """New rates offered since a held rate first lay below a failed one."""
    held: set[float] = set()
    failed: set[float] = set()
    for i, lv in enumerate(levels):
        (held if lv.held else failed).add(lv.rate)
        if held and any(r > max(held) for r in failed - held):
            before = {x.rate for x in levels[: i + 1]}
            return len({x.rate for x in levels[i + 1 :]} - before)
    return 0


def next_rate(
    levels: Sequence[Judged],
    *,
    growth: float,
    bisect: int,
    max_rate: float = math.inf,
    repeat_failures: bool = False,
    descend: bool = False,
    close: float = 1.05,
    max_levels: int | None = None,
) -> float | None:
    """The rate to offer after ``levels`` (at least one), or None when the knee is found or
    the budget (``max_rate``, ``bisect``, ``max_levels``) is spent."""
    last = levels[-1]
    if repeat_failures and not last.held and not _is_repeat(levels, len(levels) - 1):
        return last.rate
    if max_levels is not None and steps(levels) >= max_levels:
        return None
    held = {lv.rate for lv in levels if lv.held}
    failed = {lv.rate for lv in levels if not lv.held} - held
    if not held:
        return min(failed) / growth if descend else None
    lo = max(held)
    above = [r for r in failed if r > lo]
    if not above:
        rate = lo * growth
        return rate if rate <= max_rate else None
    hi = min(above)
    if hi / lo <= close or _bisections(levels) >= bisect:
        return None
    return float(math.sqrt(lo * hi))


@dataclass(slots=True)
class Knee(Generic[L]):
    """What a search offered, in order, and what it found."""

    levels: list[L] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """The highest offered rate that held (0 when none did)."""
        return max((lv.rate for lv in self.levels if lv.held), default=0.0)

    @property
    def bracketed(self) -> bool:
        """A rate above the knee failed (and never held): else the search ran out of steps
        still holding, and ``rate`` is only a lower bound."""
        rate, held = self.rate, {lv.rate for lv in self.levels if lv.held}
        return bool(held) and any(
            lv.rate > rate and lv.rate not in held for lv in self.levels if not lv.held
        )


def search(
    evaluate: Callable[[float], L],
    start: float,
    *,
    growth: float = 1.3,
    bisect: int = 3,
    max_levels: int = 12,
    max_rate: float = math.inf,
    repeat_failures: bool = False,
    descend: bool = True,
    close: float = 1.05,
) -> Knee[L]:
    """Offer ``start``, then what ``next_rate`` says, until it says stop."""
    found: Knee[L] = Knee()
    rate: float | None = start
    while rate is not None:
        found.levels.append(evaluate(rate))
        rate = next_rate(
            found.levels, growth=growth, bisect=bisect, max_rate=max_rate,
            repeat_failures=repeat_failures, descend=descend, close=close,
            max_levels=max_levels,
        )  # fmt: skip
    return found


def knee(levels: Sequence[M]) -> M | None:
    """The level with the highest achieved throughput among those that held."""
    held = [lv for lv in levels if lv.held]
    return max(held, key=lambda lv: lv.achieved) if held else None
