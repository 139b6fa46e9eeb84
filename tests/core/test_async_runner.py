"""The asyncio runner drives the same flows over an async transport."""

from __future__ import annotations

import asyncio
from typing import Any

from core.checker import check
from core.domain import PaymentRequest
from core.effects import Effect, OutcomeUnknown, ProviderCharge
from core.flows.payment import payment_flow
from core.history import request_event, response_event
from core.runtime.async_runner import MemoryTransport, run_async
from core.runtime.world import World
from core.variants import HARDENED


class LosesFirstCharge(MemoryTransport):
    lost = False

    async def perform(self, effect: Effect[Any]) -> Any:
        result = await super().perform(effect)
        if isinstance(effect, ProviderCharge) and not self.lost:
            self.lost = True
            raise OutcomeUnknown("timeout")
        return result


def test_async_runner_matches_the_memory_semantics() -> None:
    world = World(HARDENED)
    transport = LosesFirstCharge(world)
    request = PaymentRequest("m-1", "o-1", 1999, "usd", "tok_visa", "k-1")

    async def scenario() -> list[int]:
        statuses = []
        for attempt in ("a1", "a2"):
            world.history.record(request_event(world.clock.now, attempt, "c", request))
            response = await run_async(payment_flow(request, HARDENED, attempt), transport)
            world.history.record(response_event(world.clock.now, attempt, "c", request, response))
            statuses.append(response.status)
        return statuses

    assert asyncio.run(scenario()) == [202, 201]
    assert len(world.stripe.charges) == 1
    assert check(world.history, world.final_state()).ok
