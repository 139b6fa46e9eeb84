"""Which of the scenario's faults fires now: its windows on the simulated timeline, the
per-effect draw of its probability, and how often it has fired."""

from __future__ import annotations

import random

from sim.scenario import FaultSpec
from sim.timeline import US_PER_S


class FaultBook:
    """The scenario's faults on the simulated timeline, each firing recorded in the history."""

    def __init__(self, faults: tuple[FaultSpec, ...], load_end_s: float, rng: random.Random):
        self.rng = rng
        self.healed = False
        self.by_kind: dict[str, list[tuple[FaultSpec, int, int]]] = {}
        self.fired: dict[int, int] = {}
        for spec in faults:
            start, end = spec.window(load_end_s)
            self.by_kind.setdefault(spec.kind, []).append(
                (spec, int(start * US_PER_S), int(end * US_PER_S))
            )

    def specs(self, kind: str) -> list[tuple[FaultSpec, int, int]]:
        return self.by_kind.get(kind, [])

    def hit(
        self, kind: str, now: float, effect: str | None = None, server: int = -1
    ) -> FaultSpec | None:
        """A per-effect fault of ``kind`` firing now, or None (draws its probability)."""
        if self.healed:
            return None
        for spec, start, end in self.by_kind.get(kind, ()):
            if not start <= now < end and not (start == end and now >= start):
                continue
            if spec.effect is not None and spec.effect != effect:
                continue
            if spec.server is not None and spec.server != server:
                continue
            fired = self.fired.get(id(spec), 0)
            limit = spec.count if spec.count is not None else (1 if start == end else None)
            if limit is not None and fired >= limit:
                continue
            if spec.probability is not None and self.rng.random() >= spec.probability:
                continue
            self.fired[id(spec)] = fired + 1
            return spec
        return None

    def active(self, kind: str, now: float) -> list[FaultSpec]:
        if self.healed:
            return []
        return [s for s, start, end in self.by_kind.get(kind, ()) if start <= now < end]
