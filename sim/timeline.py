"""Simulated time and what happened on it: one clock for SimPy, the models and the history.

Time is integer **microseconds** in SimPy (``env.now``); the core's models read integer
milliseconds from a ``ModelClock`` that is set from ``env.now`` before every model call, so
nothing reads wall time.
"""

from __future__ import annotations

from collections.abc import Generator
from heapq import heappush
from typing import Any

import simpy
from simpy.events import NORMAL, URGENT

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


class Wait(simpy.Timeout):
    """``env.timeout(delay)`` as SimPy schedules it (same time, priority and event id, so the
    same order), built without the bound-class lookup and the extra ``schedule`` call: the
    simulator's hot loop makes two or three per request."""

    def __init__(self, env: simpy.Environment, delay: float) -> None:
        if delay < 0:
            raise ValueError(f"Negative delay {delay}")
        self.env = env
        self.callbacks = []
        self._value = None
        self._delay = delay
        self._ok = True
        heappush(env._queue, (env._now + delay, NORMAL, next(env._eid), self))


class Task:
    """A SimPy process that nobody waits for, without the process event: started by an
    event of the same priority at the same place in the queue as ``env.process`` schedules
    its ``Initialize``, resumed as ``Process._resume`` resumes one, but its end schedules
    nothing (a ``Process`` is an event of its own, triggered and stepped when its generator
    returns, whether or not anyone waits on it). An exception in the generator propagates
    out of ``env.run`` at once instead of at the process event's step."""

    __slots__ = ("_generator",)

    def __init__(self, env: simpy.Environment, generator: Generator[simpy.Event, Any, Any]):
        self._generator = generator
        start = simpy.Event(env)
        start._ok = True
        start._value = None
        start.callbacks.append(self._resume)  # a bound method per wait, as SimPy: no cycle
        heappush(env._queue, (env._now, URGENT, next(env._eid), start))

    def _resume(self, event: simpy.Event) -> None:
        generator = self._generator
        try:
            while True:
                if event._ok:
                    event = generator.send(event._value)
                else:
                    event._defused = True
                    failure = event._value
                    exc = type(failure)(*failure.args)
                    exc.__cause__ = failure
                    event = generator.throw(exc)
                callbacks = event.callbacks
                if callbacks is not None:
                    callbacks.append(self._resume)
                    return
        except StopIteration:
            return
