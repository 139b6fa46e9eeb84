"""The model clock: integer milliseconds, moved only by whoever drives the run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class ModelClock:
    """A clock the models read; the runtime advances it (sleeps, simulated latency, tests)."""

    now: int = 0

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        if ms < 0:
            raise ValueError(f"cannot move the clock back by {ms} ms")
        self.now += ms
