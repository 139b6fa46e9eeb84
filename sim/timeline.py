"""Simulated time and what happened on it: one clock for SimPy, the models and the history.

Time is integer **microseconds** in SimPy (``env.now``); the core's models read integer
milliseconds from a ``ModelClock`` that is set from ``env.now`` before every model call, so
nothing reads wall time.
"""

from __future__ import annotations

import simpy

from core.history import Event, History, Kind
from core.models.clock import ModelClock

US_PER_MS = 1_000
US_PER_S = 1_000_000


class Timeline:
    """The SimPy environment, the models' clock kept in step with it, and the history every
    actor notes its faults, crashes and effects in."""

    __slots__ = ("clock", "env", "history")

    def __init__(self, env: simpy.Environment, clock: ModelClock, history: History) -> None:
        self.env = env
        self.clock = clock
        self.history = history

    def now_ms(self) -> int:
        return int(self.env.now) // US_PER_MS

    def tick(self) -> int:
        """Bring the model clock to now (ms) and return it. Within one millisecond the clock
        keeps the int it holds: the models store timestamps per payment, and the payments of
        one millisecond then share one object instead of each holding its own."""
        ms = int(self.env.now) // US_PER_MS
        clock = self.clock
        if ms != clock.now:
            clock.now = ms
        return clock.now

    def note(self, kind: Kind, detail: str, attempt: str = "") -> None:
        self.history.record(Event(t=self.now_ms(), kind=kind, attempt=attempt, detail=detail))
