"""The stepper: many flows in flight, advanced one effect at a time in an order chosen from
outside (a test enumerating every interleaving, or Hypothesis picking one).

A provider charge takes two steps, *send* and *reply* (``MemoryProvider``'s two halves, shared
with the simulator), so a second request with the same key can arrive while the first is
executing (Stripe's 409), and a crash or a lost reply can fall between the provider doing the
work and the server hearing of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from core.domain import PaymentRequest, Response
from core.effects import ChargeResult, Fault, OutcomeUnknown, ProviderCharge
from core.flows.payment import payment_flow
from core.flows.reconcile import ReconcileReport, reconcile_flow
from core.history import request_event, response_event
from core.models.stripe_model import Ticket
from core.runtime.driver import FlowDriver
from core.runtime.interceptor import Interceptor
from core.runtime.sync import answer
from core.runtime.trace_text import describe
from core.runtime.world import World


@dataclass(slots=True)
class InFlight:
    """A request being handled by some server."""

    attempt: str
    client: str
    request: PaymentRequest | None
    driver: FlowDriver[Any]
    ticket: Ticket | None = None
    """Set between a charge's send and its reply: the provider is executing it."""

    @property
    def pending_name(self) -> str:
        effect = self.driver.pending
        phase = " (reply)" if self.ticket is not None else ""
        return (type(effect).__name__ if effect is not None else "done") + phase


@dataclass(slots=True)
class Stepper:
    """Flows in flight over one world; every method is one action of the world."""

    world: World
    faults: Interceptor | None = None
    flows: dict[str, InFlight] = field(default_factory=dict)
    finished: dict[str, Response] = field(default_factory=dict)
    reports: dict[str, ReconcileReport] = field(default_factory=dict)
    steps: int = 0
    keep_transcripts: bool = False
    """Drivers record what they were answered (for state-space exploration)."""
    _ids: Iterator[int] = field(default_factory=lambda: count(1))

    # --- starting and stepping ------------------------------------------------------------

    def submit(self, request: PaymentRequest, client: str = "client") -> str:
        """A request arrives at some server; returns its attempt id. Nothing runs yet."""
        attempt = f"a{next(self._ids):04d}"
        self.world.history.record(request_event(self.world.clock.now, attempt, client, request))
        flow = payment_flow(request, self.world.variant, attempt, self.world.contract)
        driver = FlowDriver(flow, keep_transcript=self.keep_transcripts)
        self.flows[attempt] = InFlight(attempt, client, request, driver)
        self._finish_if_done(attempt)
        return attempt

    def start_reconciler(self) -> str:
        attempt = f"r{next(self._ids):04d}"
        driver = FlowDriver(reconcile_flow(self.world.variant, provider=self.world.contract))
        self.flows[attempt] = InFlight(attempt, "reconciler", None, driver)
        self._finish_if_done(attempt)
        return attempt

    def in_flight(self) -> list[str]:
        return sorted(self.flows)

    def step(self, attempt: str) -> None:
        """Advance one flow by one effect (a charge: by its send or its reply)."""
        flow = self.flows[attempt]
        effect = flow.driver.pending
        self.steps += 1
        if isinstance(effect, ProviderCharge):
            self._step_charge(flow, effect)
        else:
            answer(self.world, flow.driver, attempt, self.faults)
        self._finish_if_done(attempt)

    def _step_charge(self, flow: InFlight, effect: ProviderCharge) -> None:
        """The interceptor (``faults``) sees a charge as any effect: ``before`` its send (the
        request never reaches the provider), ``after`` it executed (the reply is lost)."""
        world, provider, faults = self.world, self.world.provider, self.faults
        if flow.ticket is None:
            refused = faults.before(flow.attempt, effect) if faults is not None else None
            if refused is not None:
                world.note("fault", f"{describe(effect)} → {refused!r}", flow.attempt)
                flow.driver.throw(refused)
                return
            try:
                started = provider.send(effect)
            except Fault as fault:
                world.note("effect", f"{describe(effect)} → {fault!r}", flow.attempt)
                flow.driver.throw(fault)
                return
            if isinstance(started, ChargeResult):
                lost = faults.after(flow.attempt, effect, started) if faults is not None else None
                if lost is not None:
                    world.note("fault", f"{describe(effect)} replayed, reply lost: {lost!r}",
                               flow.attempt)  # fmt: skip
                    flow.driver.throw(lost)
                    return
                world.note("effect", f"{describe(effect)} → replay {started!r}", flow.attempt)
                flow.driver.send(started)
                return
            world.note("effect", f"{describe(effect)} sent; provider executing", flow.attempt)
            flow.ticket = started
            return
        ticket, flow.ticket = flow.ticket, None
        lost = faults.after(flow.attempt, effect, ticket) if faults is not None else None
        if lost is not None:
            provider.finish_unheard(ticket)
            world.note("fault", f"charge executed, reply lost: {lost!r}", flow.attempt)
            flow.driver.throw(lost)
            return
        try:
            result = provider.hear(ticket)
        except Fault as fault:
            world.note("effect", f"charge reply → {fault!r}", flow.attempt)
            flow.driver.throw(fault)
            return
        world.note("effect", f"charge reply → {result!r}", flow.attempt)
        flow.driver.send(result)

    def lose_provider_reply(self, attempt: str) -> bool:
        """The provider executes the charge, but the server hears only a timeout."""
        flow = self.flows.get(attempt)
        if flow is None or flow.ticket is None:
            return False
        ticket, flow.ticket = flow.ticket, None
        self.world.provider.finish_unheard(ticket)
        self.world.note("fault", "provider reply lost after the charge executed", attempt)
        self.steps += 1
        flow.driver.throw(OutcomeUnknown("stripe: read timeout (the charge may have happened)"))
        self._finish_if_done(attempt)
        return True

    def crash(self, attempt: str) -> None:
        """The server handling ``attempt`` dies: the flow is never driven again. A charge
        already sent still executes at the provider; nobody hears the reply."""
        flow = self.flows.pop(attempt)
        if flow.ticket is not None:
            self.world.provider.finish_unheard(flow.ticket)
        self.world.note("crash", f"server crashed at {flow.pending_name}", attempt)

    def run_to_end(self, attempt: str, max_steps: int = 10_000) -> None:
        for _ in range(max_steps):
            if attempt not in self.flows:
                return
            self.step(attempt)
        raise RuntimeError(f"{attempt} did not finish in {max_steps} steps")

    def drain(self, max_steps: int = 100_000) -> None:
        """Run every flow in flight to its end, oldest first."""
        for attempt in self.in_flight():
            self.run_to_end(attempt, max_steps)

    def reconcile(self) -> ReconcileReport | None:
        attempt = self.start_reconciler()
        self.run_to_end(attempt)
        return self.reports.pop(attempt, None)

    # --- results --------------------------------------------------------------------------

    def _finish_if_done(self, attempt: str) -> None:
        flow = self.flows[attempt]
        if not flow.driver.done:
            return
        del self.flows[attempt]
        result = flow.driver.result
        if flow.request is None:
            assert isinstance(result, ReconcileReport)
            self.reports[attempt] = result
            return
        assert isinstance(result, Response)
        self.finished[attempt] = result
        self.world.history.record(
            response_event(self.world.clock.now, attempt, flow.client, flow.request, result)
        )
