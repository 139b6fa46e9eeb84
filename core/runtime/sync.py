"""The synchronous memory runtime: drive a flow to its end against the models, in-process.

The embedded default: ``submit`` answers one request the way one server would, with faults
from an optional interceptor, and records everything in the world's history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count
from typing import Any

from core.domain import PaymentRequest, Response
from core.effects import Fault
from core.flows.payment import payment_flow
from core.flows.reconcile import ReconcileReport, reconcile_flow
from core.history import request_event, response_event
from core.runtime.driver import FlowDriver
from core.runtime.interceptor import Crash, Interceptor
from core.runtime.trace_text import clip, describe, short
from core.runtime.world import World


def answer(world: World, driver: FlowDriver[Any], attempt: str, faults: Interceptor | None) -> None:
    """Answer the driver's pending effect once; raises ``Crash`` when the server dies here."""
    effect = driver.pending
    assert effect is not None
    fault: Fault | None = faults.before(attempt, effect) if faults is not None else None
    if fault is None:
        try:
            value = world.perform(effect)
        except Fault as exc:
            fault = exc
        else:
            fault = faults.after(attempt, effect, value) if faults is not None else None
            if fault is None:
                if world.record_effects:
                    world.note("effect", clip(f"{describe(effect)} → {short(value)}", 400), attempt)
                driver.send(value)
                return
            world.note("fault", f"{describe(effect)} ran, reply lost: {fault!r}", attempt)
            driver.throw(fault)
            return
    if world.record_effects:
        world.note("effect", clip(f"{describe(effect)} → {fault!r}", 400), attempt)
    driver.throw(fault)


@dataclass(slots=True)
class MemoryRuntime:
    """One server's worth of request handling against a ``World``."""

    world: World
    faults: Interceptor | None = None
    _ids: count[int] = field(default_factory=lambda: count(1))

    def next_attempt(self) -> str:
        return f"a{next(self._ids):06d}"

    def submit(self, request: PaymentRequest, client: str = "client") -> Response | None:
        """Handle a request to its end; None when the server crashed on the way."""
        attempt = self.next_attempt()
        world = self.world
        world.history.record(request_event(world.clock.now, attempt, client, request))
        driver = FlowDriver(payment_flow(request, world.variant, attempt, world.contract))
        try:
            while not driver.done:
                answer(world, driver, attempt, self.faults)
        except Crash as crash:
            world.note("crash", str(crash), attempt)
            return None
        response = driver.result
        assert response is not None
        world.history.record(response_event(world.clock.now, attempt, client, request, response))
        return response

    def reconcile(self) -> ReconcileReport | None:
        """One reconciliation pass; None if the job itself crashed."""
        attempt = f"reconcile-{next(self._ids):06d}"
        driver = FlowDriver(reconcile_flow(self.world.variant, provider=self.world.contract))
        try:
            while not driver.done:
                answer(self.world, driver, attempt, self.faults)
        except Crash as crash:
            self.world.note("crash", str(crash), attempt)
            return None
        return driver.result
