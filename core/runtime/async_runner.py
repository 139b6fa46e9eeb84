"""The asyncio runtime: drive a flow by awaiting an async transport for each effect.

Live adapters (redis-py asyncio, psycopg 3, the Stripe SDK) implement ``AsyncTransport``;
``MemoryTransport`` wraps the in-memory world so the same runner is tested without servers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from core.effects import Effect, Fault, Flow
from core.runtime.driver import FlowDriver
from core.runtime.world import World

R = TypeVar("R")


class AsyncTransport(Protocol):
    async def perform(self, effect: Effect[Any]) -> Any:
        """Answer one effect, or raise a ``Fault``."""


class FaultPoint(Protocol):
    async def __call__(self, attempt: str, effect: Effect[Any], when: str) -> None:
        """Called before and after each effect; may crash or pause the process (live tests)."""


@dataclass(slots=True)
class MemoryTransport:
    """The in-memory world behind the async protocol."""

    world: World

    async def perform(self, effect: Effect[Any]) -> Any:
        return self.world.perform(effect)


async def run_async(
    flow: Flow[R],
    transport: AsyncTransport,
    *,
    attempt: str = "",
    fault_point: FaultPoint | None = None,
) -> R:
    """Drive ``flow`` to its end; each effect is awaited on ``transport``."""
    driver: FlowDriver[R] = FlowDriver(flow)
    while not driver.done:
        effect = driver.pending
        assert effect is not None
        if fault_point is not None:
            await fault_point(attempt, effect, "before")
        try:
            value = await transport.perform(effect)
        except Fault as fault:
            driver.throw(fault)
            continue
        if fault_point is not None:
            await fault_point(attempt, effect, "after")
        driver.send(value)
    result = driver.result
    return result  # type: ignore[return-value]
