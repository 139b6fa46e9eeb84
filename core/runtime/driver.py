"""Driving one flow: hold its pending effect, send it a result or throw it a fault.

The sync runner, the stepper, the simulator and the asyncio runner all drive flows through
this one class, so the generator protocol (``send``/``throw``/``StopIteration``) is handled in
exactly one place. A crash is simply never driving the flow again.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from core.effects import Effect, Flow

R = TypeVar("R")


class FlowDriver(Generic[R]):
    """One running flow. ``pending`` is the effect it waits on; ``done`` once it returned.
    ``throw`` takes a ``Fault`` or, from the asyncio runner, any unexpected exception."""

    __slots__ = ("_flow", "done", "effects", "pending", "result", "transcript")

    def __init__(self, flow: Flow[R], *, keep_transcript: bool = False) -> None:
        self._flow = flow
        self.pending: Effect[Any] | None = None
        self.done = False
        self.result: R | None = None
        self.effects = 0
        self.transcript: list[str] | None = [] if keep_transcript else None
        """Every answer given to the flow, in order: with the flow's code, its whole state."""
        self._step(None, None)

    def send(self, value: object) -> None:
        if self.transcript is not None:
            self.transcript.append(repr(value))
        # ``_step(value, None)`` inlined: the simulator sends once per effect of every request
        if self.done:
            raise RuntimeError("the flow has already returned")
        try:
            self.pending = self._flow.send(value)
            self.effects += 1
        except StopIteration as stop:
            self.pending = None
            self.done = True
            self.result = stop.value

    def throw(self, fault: Exception) -> None:
        if self.transcript is not None:
            self.transcript.append(f"!{fault!r}")
        self._step(None, fault)

    def _step(self, value: object, fault: Exception | None) -> None:
        """Resume the flow once: the one place the generator protocol is spoken besides
        ``send``, which inlines it (hot path in the simulator, hence no closures)."""
        if self.done:
            raise RuntimeError("the flow has already returned")
        try:
            if fault is not None:
                self.pending = self._flow.throw(fault)
            else:
                self.pending = self._flow.send(value)
            self.effects += 1
        except StopIteration as stop:
            self.pending = None
            self.done = True
            self.result = stop.value
