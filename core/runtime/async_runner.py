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
    """Drive ``flow`` to its end; each effect is awaited on ``transport``. A ``Fault`` or any
    other exception from the transport or a fault point is thrown into the flow at the effect;
    what the flow does not handle propagates from here. Cancellation (``BaseException``) is a
    crash: the flow is not driven again."""
    driver: FlowDriver[R] = FlowDriver(flow)
    while not driver.done:
        effect = driver.pending
        assert effect is not None
        thrown: Exception | None = None
        value: Any = None
        try:
            if fault_point is not None:
                await fault_point(attempt, effect, "before")
            try:
                value = await transport.perform(effect)
            except Fault as fault:
                thrown = fault
            else:
                if fault_point is not None:
                    await fault_point(attempt, effect, "after")
        except Exception as exc:  # any other error goes to the flow, which releases what
            thrown = exc  # it holds and raises it again (out of here)
        if thrown is not None:
            driver.throw(thrown)
        else:
            driver.send(value)
    result = driver.result
    return result  # type: ignore[return-value]
