"""Kill rates: how often the gate's budget kills each mutant when the search starts elsewhere.

The ``ci`` gate is one derandomized search; a mutant it kills might survive a slightly
different one. ``kill_rate`` runs a mutant under N seeds (Hypothesis ``seed=``, derandomize
off, no example database) at the profile's example budget, counts a kill at the first failure
without shrinking, and shrinks only the first failure, for display. Same seeds, same table.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from verify.mutants import Mutant
from verify.runner import GateResult, run_gate, run_mutant

TARGET = 0.95
"""Every mutant must be killed under at least this share of seeds at the ``ci`` budget."""


@dataclass(slots=True)
class KillRate:
    mutant: str
    seeds: list[int]
    survived: list[int] = field(default_factory=list)
    examples: list[int] = field(default_factory=list)
    """Examples to the kill, one per killing seed."""
    seconds: float = 0.0
    shown: GateResult | None = None
    """The first killing seed's failure, shrunk (None when every seed survived)."""

    @property
    def killed(self) -> int:
        return len(self.seeds) - len(self.survived)

    @property
    def rate(self) -> float:
        return self.killed / len(self.seeds) if self.seeds else 0.0

    @property
    def meets_target(self) -> bool:
        return self.rate >= TARGET


def kill_rate(mutant: Mutant, seeds: Iterable[int], *, profile: str, show: bool = True) -> KillRate:
    """Run ``mutant`` once per seed; shrink the first kill when ``show``."""
    chosen = list(seeds)
    result = KillRate(mutant.name, chosen)
    started = time.perf_counter()
    first: int | None = None
    for seed in chosen:
        run = run_gate(mutant, profile=profile, shrink=False, seed=seed)
        if run.failed:
            result.examples.append(run.stats.first_failure_at or 0)
            first = seed if first is None else first
        else:
            result.survived.append(seed)
    if show and first is not None:
        result.shown = _shrunk(mutant, profile, first)
    result.seconds = time.perf_counter() - started
    return result


def _shrunk(mutant: Mutant, profile: str, seed: int) -> GateResult:
    result = run_mutant(mutant, profile=profile, seed=seed)
    assert result.failed, f"{mutant.name}: seed {seed} killed it unshrunk but not when shrinking"
    return result
