"""The load balancer and the servers: each request is served by a worker of one server,
whose flow is driven effect by effect against the backends.

Flows are driven through ``core.runtime.driver.FlowDriver``; an effect is answered by
``core.runtime.world.World.perform`` after its simulated latency, so the models' semantics
are the core's. A provider charge uses the model's two halves (``begin`` then ``finish`` after
the simulated provider latency) exactly as ``core.runtime.stepper`` does, so a second request
with the same key meets a 409 while the first executes, a crash between the halves still lets
the charge execute, and a lost reply is "the charge ran, the server heard a timeout".
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from heapq import heappush
from typing import Any, cast

import simpy
from simpy.events import NORMAL, PENDING

from core.domain import PaymentRequest, Response
from core.effects import (
    ChargeResult,
    ClockRead,
    DbTransaction,
    Fault,
    OutcomeUnknown,
    ProviderCharge,
    Sleep,
    Unavailable,
)
from core.flows.payment import payment_flow
from core.history import request_row, response_row
from core.runtime.driver import FlowDriver
from core.runtime.trace_text import clip, describe
from core.runtime.world import World
from core.variants import Variant
from sim.backends import FAST_ERROR_US, Backends, Pool
from sim.cpu import Cpu
from sim.fault_book import FaultBook
from sim.metrics import Metrics
from sim.scenario import Topology
from sim.timeline import US_PER_MS, US_PER_S, Task, Timeline, Wait

Crash = Callable[["Server", str, float], None]
"""Crash a server (``where`` it happened, seconds until it restarts): ``sim.faults``."""


@dataclass(slots=True)
class Server:
    index: int
    workers: Pool
    pool: Pool
    up: bool = True
    generation: int = 0
    stalled_until: int = 0
    inflight: dict[str, Attempt] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"server{self.index}"


def fresh_pools(env: simpy.Environment, topology: Topology) -> tuple[Pool, Pool]:
    """A server process's worker pool and Postgres connection pool, all slots free."""
    return Pool(env, topology.workers), Pool(env, topology.pg_pool)


@dataclass(slots=True)
class Attempt:
    id: str
    client: str
    request: PaymentRequest
    fingerprint: str
    wake: simpy.Event
    """The client's wait: succeeded with the response, None (connection reset) or TIMED_OUT."""
    response: Response | None = None


class Balancer:
    """Spreads requests over the servers that are up, round robin or at random."""

    __slots__ = ("_rr", "policy", "rng", "servers", "up")

    def __init__(self, servers: list[Server], policy: str, rng: random.Random) -> None:
        self.servers = servers
        self.policy = policy
        self.rng = rng
        self.up: list[Server] = list(servers)
        """The servers that are up, in index order; refreshed on every crash and restart."""
        self._rr = 0

    def refresh(self) -> None:
        self.up = [s for s in self.servers if s.up]

    def pick(self, avoid: Server | None = None) -> Server | None:
        up = self.up if avoid is None else [s for s in self.up if s is not avoid]
        if not up:
            return None
        if self.policy == "random":
            return up[self.rng.randrange(len(up))]
        self._rr += 1
        return up[self._rr % len(up)]


class Fleet:
    """The servers at work: accept an attempt, serve it with a worker, answer its flow's
    effects after their latency, under the faults that strike at effect boundaries."""

    def __init__(
        self,
        timeline: Timeline,
        world: World,
        variant: Variant,
        faults: FaultBook,
        backends: Backends,
        metrics: Metrics,
        crash: Crash,
        *,
        record_effects: bool,
        cpu: Cpu | None = None,
    ) -> None:
        self.env = timeline.env
        self.clock = timeline.clock
        self.history = timeline.history
        self.now_ms = timeline.now_ms
        self.note = timeline.note
        self._tick = timeline.tick
        self.world = world
        self.variant = variant
        self.faults = faults
        self.metrics = metrics
        self._crash = crash
        self.record_effects = record_effects
        self.cpu = cpu
        """The machine's cores (``sim.cpu``); None: servers cost no CPU (the default)."""
        self.redis_latency = backends.redis_latency
        self.pg_latency = backends.pg_latency
        self.stripe_latency = backends.stripe_latency
        self.bucket = backends.bucket
        self._boundary = bool(faults.specs("server_crash") or faults.specs("server_stall"))
        # Which per-effect faults the scenario has at all (its specs never change during a
        # run): without any, ``FaultBook.hit`` returns None and draws nothing, so the hot
        # path need not ask.
        self._commit_failures = bool(faults.specs("postgres_commit_failure"))
        self._charge_faults = any(
            faults.specs(kind)
            for kind in ("stripe_429", "stripe_latency_spike", "stripe_5xx", "stripe_lost_reply")
        )
        self.provider_busy_until_us = 0
        """When the provider finishes the last request it still executes after its caller
        timed out (a latency spike); the settle phase waits for it."""
        self._ids = 0

    def _next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids:07d}"

    def send(
        self,
        request: PaymentRequest,
        fp: str,
        client: str,
        server: Server | None,
        wake: simpy.Event,
    ) -> Attempt | None:
        if server is None or not server.up:
            return None
        self.metrics.attempts += 1
        self._ids += 1
        attempt = Attempt(f"a{self._ids:07d}", client, request, fp, wake)
        history = self.history
        if history.keep or history.listeners or history.row_listeners:  # else nobody sees it
            history.record_row(request_row(self.now_ms(), attempt.id, client, request, fp))
        server.inflight[attempt.id] = attempt
        Task(self.env, self._serve(server, attempt))
        return attempt

    def _serve(self, server: Server, attempt: Attempt) -> Generator[Any, Any, None]:
        generation = server.generation
        workers = server.workers
        if workers.used < workers.capacity:  # Pool.acquire, inlined: a slot is free
            workers.used += 1
        else:
            yield workers.wait()
        try:
            if server.generation != generation:
                return
            driver: FlowDriver[Response] = FlowDriver(
                payment_flow(attempt.request, self.variant, attempt.id, self.world.contract)
            )
            finished = yield from self.drive(driver, attempt.id, server)
            if finished and self.cpu is not None:
                yield from self.cpu.spend(server.index, driver.result)
                finished = server.generation == generation
        finally:
            workers.release()
        if not finished:
            return
        response = driver.result
        assert response is not None
        attempt.response = response
        server.inflight.pop(attempt.id, None)
        history = self.history
        if history.keep or history.listeners or history.row_listeners:
            history.record_row(
                response_row(
                    self.now_ms(), attempt.id, attempt.client, attempt.request, response,
                    attempt.fingerprint,
                )
            )  # fmt: skip
        wake = attempt.wake
        if wake._value is PENDING:  # wake.succeed(response), inlined: the same schedule
            wake._ok = True
            wake._value = response
            env = self.env
            heappush(env._queue, (env._now, NORMAL, next(env._eid), wake))

    # --- answering effects ----------------------------------------------------------------

    def drive(
        self, driver: FlowDriver[Any], attempt: str, server: Server
    ) -> Generator[Any, Any, bool]:
        """Answer effects until the flow returns (True) or its server dies (False).

        The simulator's hot loop: one pass per effect of every request, so it reads its
        collaborators into locals, inlines the clock's tick (``Timeline.tick``) and the
        pool's acquire, and calls the world's handlers directly."""
        env, faults, clock = self.env, self.faults, self.clock
        handle = self.world.perform
        generation = server.generation
        boundary = self._boundary and server.index >= 0
        commit_failures = self._commit_failures
        redis_latency, pg_latency = self.redis_latency, self.pg_latency
        send, throw = driver.send, driver.throw
        record_effects = self.record_effects
        while not driver.done:
            if server.generation != generation:
                return False
            now = env._now
            if server.stalled_until > now:
                yield Wait(env, server.stalled_until - now)
                continue
            effect = driver.pending
            assert effect is not None  # a flow that is not done waits on an effect
            cls = type(effect)
            if cls is ClockRead:
                ms = int(now) // US_PER_MS
                if ms != clock.now:
                    clock.now = ms
                send(clock.now)
                continue
            if cls is Sleep:
                yield Wait(env, cast(Sleep, effect).ms * US_PER_MS)
                send(None)
                continue
            if boundary and self._boundary_faults(server, attempt, cls.__name__):
                return False
            backend = cls.backend
            value: Any = None
            fault: Fault | None = None
            if backend == "redis":
                yield Wait(env, redis_latency())
                ms = int(env._now) // US_PER_MS
                if ms != clock.now:
                    clock.now = ms
                try:
                    value = handle(effect)
                except Fault as exc:
                    fault = exc
            elif backend == "postgres":
                pool = server.pool
                if pool.used < pool.capacity:  # Pool.acquire, inlined: a slot is free
                    pool.used += 1
                else:
                    yield pool.wait()
                try:
                    yield Wait(env, pg_latency())
                    if commit_failures and cls is DbTransaction:
                        spec = faults.hit("postgres_commit_failure", env._now, "DbTransaction")
                        if spec is not None:
                            self.note("fault", "postgres: commit failed, nothing applied", attempt)
                            fault = Unavailable("postgres: commit failed (injected)")
                    if fault is None:
                        ms = int(env._now) // US_PER_MS
                        if ms != clock.now:
                            clock.now = ms
                        try:
                            value = handle(effect)
                        except Fault as exc:
                            fault = exc
                finally:
                    pool.release()
            elif cls is ProviderCharge:
                value, fault = yield from self._charge(cast(ProviderCharge, effect), attempt)
            else:
                yield Wait(env, self.stripe_latency())
                self._tick()
                try:
                    value = handle(effect)
                except Fault as exc:
                    fault = exc
            if server.generation != generation:
                return False  # the reply reached a dead server
            if record_effects:
                answer = repr(fault) if fault is not None else repr(value)
                self.note("effect", clip(f"{describe(effect)} → {answer}", 300), attempt)
            if fault is not None:
                throw(fault)
            else:
                send(value)
        return True

    def _boundary_faults(self, server: Server, attempt: str, effect: str) -> bool:
        """Crash or stall the server at this effect boundary; True when it crashed."""
        now = self.env.now
        if self.faults.specs("server_crash"):
            spec = self.faults.hit("server_crash", now, effect, server.index)
            if spec is not None and (spec.probability is not None or spec.effect is not None):
                self._crash(server, f"at {effect} of {attempt}", spec.restart_s)
                return True
        if self.faults.specs("server_stall"):
            spec = self.faults.hit("server_stall", now, effect, server.index)
            if spec is not None and spec.probability is not None:
                server.stalled_until = int(now) + int(spec.stall_s * US_PER_S)
                self.note("fault", f"{server.name} stalls {spec.stall_s:g} s at {effect}", attempt)
        return False

    def _charge(
        self, effect: ProviderCharge, attempt: str
    ) -> Generator[Any, Any, tuple[Any, Fault | None]]:
        """The provider call in the world's two halves (``MemoryProvider.send``, then ``hear``
        after the simulated latency), with rate limit, 429/5xx/lost reply and spikes."""
        env, faults = self.env, self.faults
        provider = self.world.provider
        charge_faults = self._charge_faults  # False: every ``faults.hit`` below is None
        if (
            charge_faults and faults.hit("stripe_429", env._now) is not None
        ) or not self.bucket.take(int(env._now)):
            self.metrics.rate_limited_at_ms.append(int(env._now) // US_PER_MS)
            yield Wait(env, FAST_ERROR_US)
            self.note("fault", "stripe: 429 rate_limit", attempt)
            return None, Unavailable("stripe: 429 rate_limit (not saved; safe to retry)")
        self._tick()
        try:
            started = provider.send(effect)
        except Fault as fault:
            yield Wait(env, FAST_ERROR_US)
            return None, fault
        latency = self.stripe_latency()
        if charge_faults:
            for spike in faults.active("stripe_latency_spike", env._now):
                latency = int(latency * spike.factor + spike.extra_ms * US_PER_MS)
        if isinstance(started, ChargeResult):
            yield Wait(env, latency)
            return started, None
        ticket = started
        if charge_faults:
            server_error = faults.hit("stripe_5xx", env._now)
            lost = faults.hit("stripe_lost_reply", env._now)
        else:
            server_error = lost = None
        limit = self.variant.provider_timeout_ms * US_PER_MS
        if latency > limit:
            # The server stops waiting; the provider still finishes the charge later.
            env.process(self._finish_later(ticket, latency))
            self.provider_busy_until_us = max(self.provider_busy_until_us, int(env.now) + latency)
            yield Wait(env, limit)
            self.note("fault", "stripe: read timeout; the charge completes later", attempt)
            return None, OutcomeUnknown("stripe: read timeout (the charge may have happened)")
        yield Wait(env, latency)
        self._tick()
        if server_error is not None:
            provider.finish_unheard(ticket, applied=server_error.charged)
            made = "after" if server_error.charged else "without"
            self.note("fault", f"stripe: 500 {made} making the charge", attempt)
            return None, OutcomeUnknown(f"stripe: 500 api_error ({made} the charge)")
        try:
            result = provider.hear(ticket)
        except Fault as fault:
            return None, fault
        if lost is not None:
            self.note("fault", "stripe: reply lost after the charge executed", attempt)
            return None, OutcomeUnknown("stripe: read timeout (the charge may have happened)")
        return result, None

    def _finish_later(self, ticket: Any, latency: int) -> Generator[Any, Any, None]:
        yield self.env.timeout(latency - self.variant.provider_timeout_ms * US_PER_MS)
        self._tick()
        self.world.provider.finish_unheard(ticket)
