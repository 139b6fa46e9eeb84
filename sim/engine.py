"""The SimPy world: arrivals, clients with retry policies, a load balancer, servers with
bounded worker pools, the three backends behind latency and capacity, and faults.

Time is integer **microseconds** in SimPy (``env.now``); the core's models read integer
milliseconds from a ``ModelClock`` that is set from ``env.now`` before every model call, so
nothing reads wall time. Flows are driven through ``core.runtime.driver.FlowDriver``; an
effect is answered by ``core.runtime.world.World.perform`` after its simulated latency, so
the models' semantics are the core's. A provider charge uses the model's two halves
(``begin`` then ``finish`` after the simulated provider latency) exactly as
``core.runtime.stepper`` does, so a second request with the same key meets a 409 while the
first executes, a crash between the halves still lets the charge execute, and a lost reply is
"the charge ran, the server heard a timeout".
"""

from __future__ import annotations

import gc
import random
import time
from array import array
from collections import deque
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import simpy

from core.domain import Outcome, PaymentRequest, Response, fingerprint
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
from core.flows.reconcile import reconcile_flow
from core.history import Event, History, request_event, response_event
from core.models.clock import ModelClock
from core.runtime.driver import FlowDriver
from core.runtime.sync import describe
from core.runtime.world import World
from core.variants import PROVIDER_KEY_WINDOW_MS, Variant, variant_named
from sim.dist import Latency
from sim.scenario import FaultSpec, Scenario
from sim.spill import SpilledRequests

US_PER_MS = 1_000
US_PER_S = 1_000_000
FAST_ERROR_US = 20 * US_PER_MS
"""A refused call (429, connection refused) answers in about one round trip; assumption."""

GC_YOUNG_THRESHOLD = 100_000
"""Allocations between young-generation collections while a world runs (CPython's default
is 700). A run allocates a few dozen container objects per request and keeps every row, so
at the default the collector rescans the young heap several times per request: 40 % of the
run time at 20k payments (``payharness bench sim`` shows it). Cyclic garbage still goes, in
bigger batches."""


@contextmanager
def fewer_gc_passes() -> Iterator[None]:
    """Raise the young-generation threshold to ``GC_YOUNG_THRESHOLD`` for the block."""
    young, *older = gc.get_threshold()
    gc.set_threshold(max(young, GC_YOUNG_THRESHOLD), *older)
    try:
        yield
    finally:
        gc.set_threshold(young, *older)


SETTLE_WINDOW = 1_000
TIMED_OUT = object()
"""What a client's wait receives when its own timeout fires first."""

SUCCESS_SOURCE = "tok_visa"
DECLINE_SOURCE = "tok_chargeDeclined"


class Pool:
    """A counting semaphore with a FIFO queue: what ``simpy.Resource`` does, without events
    when a slot is free (most of the time), which halves the events per request."""

    __slots__ = ("capacity", "env", "used", "waiters")

    def __init__(self, env: simpy.Environment, capacity: int) -> None:
        self.env = env
        self.capacity = capacity
        self.used = 0
        self.waiters: deque[simpy.Event] = deque()

    def acquire(self) -> simpy.Event | None:
        """None when a slot was free and is now held; else an event that fires with it."""
        if self.used < self.capacity:
            self.used += 1
            return None
        event = self.env.event()
        self.waiters.append(event)
        return event

    def release(self) -> None:
        if self.waiters:
            self.waiters.popleft().succeed()  # the slot passes straight to the next in line
        else:
            self.used -= 1


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


@dataclass(slots=True)
class Attempt:
    id: str
    client: str
    request: PaymentRequest
    fingerprint: str
    wake: simpy.Event
    """The client's wait: succeeded with the response, None (connection reset) or TIMED_OUT."""
    response: Response | None = None


@dataclass(slots=True)
class Metrics:
    """What the report plots: client-perceived latency, completions, attempts."""

    latencies_ms: array[float] = field(default_factory=lambda: array("d"))
    """First send to final answer of each payment (only payments that got a final answer)."""
    paid_at_ms: array[int] = field(default_factory=lambda: array("q"))
    final_at_ms: array[int] = field(default_factory=lambda: array("q"))
    attempts: int = 0
    payments: int = 0
    gave_up: int = 0
    paid: int = 0
    failed: int = 0
    pay_again: int = 0
    double_submits: int = 0
    timeouts: int = 0
    arrival_ms: array[int] = field(default_factory=lambda: array("q"))
    """Arrival time of payment n (order ``o{n:07d}``) at index n - 1."""
    load_end_ms: int = 0
    end_ms: int = 0
    sim_events: int = 0


class FaultBook:
    """The scenario's faults on the simulated timeline, each firing recorded in the history."""

    def __init__(self, faults: tuple[FaultSpec, ...], load_end_s: float, rng: random.Random):
        self.rng = rng
        self.healed = False
        self.by_kind: dict[str, list[tuple[FaultSpec, int, int]]] = {}
        self.fired: dict[int, int] = {}
        for spec in faults:
            start, end = spec.window(load_end_s)
            self.by_kind.setdefault(spec.kind, []).append(
                (spec, int(start * US_PER_S), int(end * US_PER_S))
            )

    def specs(self, kind: str) -> list[tuple[FaultSpec, int, int]]:
        return self.by_kind.get(kind, [])

    def hit(
        self, kind: str, now: float, effect: str | None = None, server: int = -1
    ) -> FaultSpec | None:
        """A per-effect fault of ``kind`` firing now, or None (draws its probability)."""
        if self.healed:
            return None
        for spec, start, end in self.by_kind.get(kind, ()):
            if not start <= now < end and not (start == end and now >= start):
                continue
            if spec.effect is not None and spec.effect != effect:
                continue
            if spec.server is not None and spec.server != server:
                continue
            fired = self.fired.get(id(spec), 0)
            limit = spec.count if spec.count is not None else (1 if start == end else None)
            if limit is not None and fired >= limit:
                continue
            if spec.probability is not None and self.rng.random() >= spec.probability:
                continue
            self.fired[id(spec)] = fired + 1
            return spec
        return None

    def active(self, kind: str, now: float) -> list[FaultSpec]:
        if self.healed:
            return []
        return [s for s, start, end in self.by_kind.get(kind, ()) if start <= now < end]


class TokenBucket:
    """The provider's account-wide rate limit: ``rate`` per second, one second of burst."""

    __slots__ = ("capacity", "rate_per_us", "stamp", "tokens")

    def __init__(self, rate_per_s: float) -> None:
        self.capacity = max(1.0, rate_per_s)
        self.tokens = self.capacity
        self.rate_per_us = rate_per_s / US_PER_S
        self.stamp = 0

    def take(self, now: int) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate_per_us)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def sim_world(variant: Variant, clock: ModelClock, history: History) -> World:
    """The core's world as a simulation uses it: effects not written to the history (the
    engine notes them itself when asked), and only illegal transitions kept."""
    world = World(variant, clock, history, record_effects=False)
    world.postgres.keep_legal_transitions = False
    return world


def _stream(seed: int, name: str) -> random.Random:
    """An independent, reproducible random stream per purpose (str seeds hash with SHA-512)."""
    return random.Random(f"{seed}:{name}")


class SimWorld:
    """One scenario, one variant, one seed: build, ``run()``, then read ``world``/``metrics``."""

    def __init__(
        self,
        scenario: Scenario,
        variant: Variant,
        seed: int | None = None,
        *,
        history: History | None = None,
        record_effects: bool = True,
        world_factory: Callable[[Variant, ModelClock, History], World] | None = None,
        progress: Callable[[Metrics], None] | None = None,
    ) -> None:
        self.scenario = scenario
        self.progress = progress
        """Called with the metrics once per simulated second (long runs show how far along)."""
        self.variant = scenario.variant(variant)
        self.seed = scenario.seed if seed is None else seed
        self.env = simpy.Environment()
        self.clock = ModelClock()
        self.history = history if history is not None else History()
        factory = world_factory or sim_world
        self.world = factory(self.variant, self.clock, self.history)
        self.record_effects = record_effects
        self.metrics = Metrics()
        topo = scenario.topology
        self.rng_arrivals = _stream(self.seed, "arrivals")
        self.rng_clients = _stream(self.seed, "clients")
        self.rng_latency = _stream(self.seed, "latency")
        self.rng_balancer = _stream(self.seed, "balancer")
        tail = (topo.tail_probability, topo.tail_factor)
        self.redis_latency = Latency(topo.redis_median_ms, topo.redis_p99_ms, *tail).sampler(
            self.rng_latency
        )
        self.pg_latency = Latency(topo.postgres_median_ms, topo.postgres_p99_ms, *tail).sampler(
            self.rng_latency
        )
        self.stripe_latency = Latency(topo.stripe_median_ms, topo.stripe_p99_ms, *tail).sampler(
            self.rng_latency
        )
        self.load_end_us = int(scenario.load.duration_s * US_PER_S)
        self.faults = FaultBook(
            scenario.faults, scenario.load.duration_s, _stream(self.seed, "faults")
        )
        self.servers = [self._new_server(i) for i in range(topo.servers)]
        self._up: list[Server] = list(self.servers)
        """The servers that are up, in index order; refreshed on every crash and restart."""
        self._deadlines: deque[tuple[int, simpy.Event]] = deque()
        self._timer_idle: simpy.Event | None = None
        self._timer_started = False
        self._boundary = bool(
            self.faults.specs("server_crash") or self.faults.specs("server_stall")
        )
        self.job_server = Server(-1, Pool(self.env, 1), Pool(self.env, 1))
        self.bucket = TokenBucket(topo.stripe_rate_limit)
        self._rr = 0
        self._ids = 0
        self._active = 0
        self._arrivals_done = False
        self._idle: simpy.Event = self.env.event()
        self._merchants = [f"m{i}" for i in range(scenario.workload.merchants)]
        """One string per merchant, shared by every request (a long run holds them all)."""
        self.first_requests = SpilledRequests()
        """The first request of every (merchant, key), retried once in the settle phase;
        on disk until then. A (merchant, key) is never remembered twice: every payment makes
        a key of its own (``_request``) and paying again adds ``-again`` to it."""
        self.late_retry_us: int | None = None
        self.settled = False
        self.reconcile_runs = 0
        for spec in scenario.faults:
            if spec.kind == "provider_key_window":
                self.late_retry_us = (
                    int(spec.at_s * US_PER_S) + (PROVIDER_KEY_WINDOW_MS + 60_000) * US_PER_MS
                )

    # --- plumbing -------------------------------------------------------------------------

    def _new_server(self, index: int) -> Server:
        topo = self.scenario.topology
        return Server(index, Pool(self.env, topo.workers), Pool(self.env, topo.pg_pool))

    def now_ms(self) -> int:
        return int(self.env.now) // US_PER_MS

    def _tick(self) -> int:
        """Bring the model clock to now (ms) and return it. Within one millisecond the clock
        keeps the int it holds: the models store timestamps per payment, and the payments of
        one millisecond then share one object instead of each holding its own."""
        ms = int(self.env.now) // US_PER_MS
        clock = self.clock
        if ms != clock.now:
            clock.now = ms
        return clock.now

    def note(self, kind: Any, detail: str, attempt: str = "") -> None:
        self.history.record(Event(t=self.now_ms(), kind=kind, attempt=attempt, detail=detail))

    def _next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids:07d}"

    # --- running --------------------------------------------------------------------------

    def run(self) -> None:
        env = self.env
        env.process(self._arrivals())
        env.process(self._reconciler())
        self._schedule_faults()
        main = env.process(self._main())
        if self.progress is not None:
            env.process(self._report_progress(self.progress))
        with fewer_gc_passes():
            env.run(until=main)
        self.metrics.end_ms = self.now_ms()

    def _report_progress(self, report: Callable[[Metrics], None]) -> Generator[Any, Any, None]:
        while True:
            yield self.env.timeout(US_PER_S)
            report(self.metrics)

    def _main(self) -> Generator[Any, Any, None]:
        yield self._idle
        self.metrics.load_end_ms = self.now_ms()
        yield from self._settle()

    def _settle(self) -> Generator[Any, Any, None]:
        """Heal every fault, wait past lock TTLs and stale-row age, reconcile, then retry every
        key once with its first payload: E3 and E5 are judged on what this leaves."""
        env = self.env
        self.faults.healed = True
        self.world.redis.available = True
        self.world.postgres.available = True
        self.world.stripe.available = True
        for server in self.servers:
            server.stalled_until = 0
            if not server.up:
                self._restart(server)
        self.note("fault", "all faults healed")
        wait_s = self.scenario.settle_s
        if wait_s is None:
            wait_s = max(self.variant.lock_ttl_ms, self.variant.stale_after_ms) / 1000 + 5
        yield env.timeout(int(wait_s * US_PER_S))
        self.settled = True
        for _ in range(2):
            yield env.process(self._reconcile_once())
            yield env.timeout(5 * US_PER_S)
        self.note("phase", "settle")
        # At most SETTLE_WINDOW retries in flight: a million keys must not mean a million
        # concurrent processes (memory), and a real client fleet would not send them at once.
        window: deque[simpy.Event] = deque()
        for request in self.first_requests:
            if len(window) >= SETTLE_WINDOW:
                yield window.popleft()
            wake = env.event()
            attempt = self._send(request, fingerprint(request), "settle", self._pick_server(), wake)
            if attempt is not None:
                window.append(wake)
        while window:
            yield window.popleft()

    def _reconciler(self) -> Generator[Any, Any, None]:
        interval = int(self.scenario.topology.reconcile_interval_s * US_PER_S)
        while not self.settled:
            yield self.env.timeout(interval)
            if self.settled:
                return
            yield self.env.process(self._reconcile_once())

    def _reconcile_once(self) -> Generator[Any, Any, None]:
        self.reconcile_runs += 1
        attempt = f"r{self.reconcile_runs:05d}"
        driver: FlowDriver[Any] = FlowDriver(reconcile_flow(self.variant))
        yield from self._drive(driver, attempt, self.job_server)

    # --- arrivals and clients -------------------------------------------------------------

    def _rate_at(self, t_s: float) -> float:
        load = self.scenario.load
        if load.arrivals == "ramp" and load.rate_end is not None:
            return load.rate + (load.rate_end - load.rate) * min(1.0, t_s / load.duration_s)
        rate = load.rate
        for b in load.bursts:
            if b.at_s <= t_s < b.at_s + b.duration_s:
                rate = max(rate, b.rate)
        return rate

    def _max_rate(self) -> float:
        load = self.scenario.load
        rates = [load.rate, load.rate_end or 0.0, *(b.rate for b in load.bursts)]
        return max(rates)

    def _arrivals(self) -> Generator[Any, Any, None]:
        """Poisson arrivals by thinning: candidates at the peak rate, kept with r(t)/peak."""
        env, rng, load = self.env, self.rng_arrivals, self.scenario.load
        peak = self._max_rate()
        constant = load.arrivals == "poisson" or (not load.bursts and load.arrivals != "ramp")
        limit = load.max_payments
        n = 0
        while True:
            gap = int(rng.expovariate(peak) * US_PER_S) + 1
            if env.now + gap >= self.load_end_us:
                break
            yield env.timeout(gap)
            if not constant and rng.random() * peak > self._rate_at(env.now / US_PER_S):
                continue
            n += 1
            self._active += 1
            env.process(self._customer(n))
            if limit is not None and n >= limit:
                break
        self._arrivals_done = True
        self._maybe_idle()

    def _maybe_idle(self) -> None:
        if self._arrivals_done and self._active == 0 and not self._idle.triggered:
            self._idle.succeed()

    def _request(self, n: int) -> PaymentRequest:
        wl, rng = self.scenario.workload, self.rng_clients
        merchant_index = n % wl.merchants
        merchant = self._merchants[merchant_index]
        if wl.separator_keys:
            # twins n = 2j, 2j+1: (m, "s:j") and (m + ":s", "j") join to one "m:s:j"
            merchant = self._merchants[(n // 2) % wl.merchants]
            if n % 2 == 0:
                key = f"s:{n // 2}"
            else:
                merchant, key = f"{merchant}:s", f"{n // 2}"
        elif wl.key_collision_rate and rng.random() < wl.key_collision_rate:
            key = f"order-{n // wl.merchants}"
        else:
            key = f"k{n:07d}-{rng.getrandbits(40):010x}"
        source = DECLINE_SOURCE if rng.random() < wl.decline_rate else SUCCESS_SOURCE
        return PaymentRequest(
            merchant=merchant,
            order=f"o{n:07d}",
            amount=rng.randint(wl.amount_min, wl.amount_max),
            currency=wl.currency,
            source=source,
            idempotency_key=key,
        )

    def _customer(self, n: int) -> Generator[Any, Any, None]:
        """One user paying one order: retries with the same key, maybe pays again."""
        env, policy, rng = self.env, self.scenario.client, self.rng_clients
        m = self.metrics
        m.payments += 1
        client = f"c{n:07d}"
        request = self._request(n)
        start = env.now
        self.first_requests.append(request)
        m.arrival_ms.append(self.now_ms())
        outcome = yield from self._pay(request, client)
        if outcome is not None and outcome in (Outcome.PAID, Outcome.FAILED):
            m.latencies_ms.append((env.now - start) / US_PER_MS)
            m.final_at_ms.append(self.now_ms())
            if outcome is Outcome.PAID:
                m.paid += 1
                m.paid_at_ms.append(self.now_ms())
            else:
                m.failed += 1
        elif outcome is None:
            m.gave_up += 1
        if self.late_retry_us is not None and outcome is not Outcome.PAID:
            # The user (or a queued retry job) comes back after the provider's key window.
            if env.now < self.late_retry_us:
                yield env.timeout(self.late_retry_us - env.now)
            outcome = yield from self._pay(request, client, attempts=1)
        if (
            outcome is not Outcome.PAID
            and policy.pay_again_rate
            and rng.random() < policy.pay_again_rate
        ):
            m.pay_again += 1
            again = PaymentRequest(
                merchant=request.merchant,
                order=request.order,
                amount=request.amount,
                currency=request.currency,
                source=request.source,
                idempotency_key=f"{request.idempotency_key}-again",
            )
            self.first_requests.append(again)
            yield from self._pay(again, client)
        wl = self.scenario.workload
        if wl.key_reuse_rate and rng.random() < wl.key_reuse_rate:
            reused = PaymentRequest(
                merchant=request.merchant,
                order=request.order,
                amount=request.amount + 100,
                currency=request.currency,
                source=request.source,
                idempotency_key=request.idempotency_key,
            )
            yield from self._pay(reused, client, attempts=1)
        self._active -= 1
        self._maybe_idle()

    def _backoff_us(self, retries: int, retry_after_s: int | None) -> int:
        """stripe-python's schedule: min(initial * 2^(n-1), max), jitter x[0.5, 1], at least
        the initial delay, and at least a Retry-After the server sent."""
        policy = self.scenario.client
        if policy.backoff == "none":
            delay = 0.0
        elif policy.backoff == "fixed":
            delay = float(policy.initial_delay_ms)
        else:
            delay = min(policy.initial_delay_ms * 2 ** (retries - 1), policy.max_delay_ms)
            delay *= 0.5 * (1 + self.rng_clients.random())
            delay = max(float(policy.initial_delay_ms), delay)
        if retry_after_s is not None:
            delay = max(delay, retry_after_s * 1000.0)
        return int(delay * US_PER_MS)

    def _pay(
        self, request: PaymentRequest, client: str, attempts: int | None = None
    ) -> Generator[Any, Any, Outcome | None]:
        """Send with one key until a final answer or the policy gives up (None)."""
        env, policy, m = self.env, self.scenario.client, self.metrics
        limit = attempts if attempts is not None else policy.max_attempts
        timeout_us = policy.timeout_ms * US_PER_MS
        fp = fingerprint(request)
        for tried in range(1, limit + 1):
            server = self._pick_server()
            response: Response | None = None
            wake = env.event()
            attempt = self._send(request, fp, client, server, wake)
            if attempt is not None:
                double = (
                    tried == 1
                    and policy.double_submit_rate
                    and self.rng_clients.random() < policy.double_submit_rate
                )
                if double:
                    m.double_submits += 1
                    self._send(request, fp, client, self._pick_server(avoid=server), wake)
                self._expire_at(int(env.now) + timeout_us, wake)
                answer = yield wake
                if answer is TIMED_OUT:
                    m.timeouts += 1
                else:
                    response = answer
            else:
                yield env.timeout(FAST_ERROR_US)
            if response is not None:
                outcome = response.outcome
                if outcome in (Outcome.PAID, Outcome.FAILED, Outcome.REJECTED, Outcome.CONFLICT):
                    return outcome
                if outcome is Outcome.PENDING and not policy.retry_pending:
                    return outcome
            if tried < limit:
                retry_after = response.retry_after_s if response is not None else None
                yield env.timeout(self._backoff_us(tried, retry_after))
        return None

    def _expire_at(self, deadline: int, wake: simpy.Event) -> None:
        """Wake the client with TIMED_OUT at ``deadline`` unless answered first. Every client
        waits the same timeout, so deadlines arrive in order and one timer process serves them
        all: a timer event per attempt would mostly fire long after the answer came."""
        self._deadlines.append((deadline, wake))
        idle = self._timer_idle
        if idle is not None:
            self._timer_idle = None
            idle.succeed()
        elif not self._timer_started:
            self._timer_started = True
            self.env.process(self._client_timer())

    def _client_timer(self) -> Generator[Any, Any, None]:
        env, queue = self.env, self._deadlines
        while True:
            while queue and (queue[0][1].triggered or queue[0][0] <= env.now):
                _deadline, wake = queue.popleft()
                if not wake.triggered:
                    wake.succeed(TIMED_OUT)
            if queue:
                yield env.timeout(queue[0][0] - env.now)
            else:
                self._timer_idle = env.event()
                yield self._timer_idle

    # --- the load balancer and servers ----------------------------------------------------

    def _pick_server(self, avoid: Server | None = None) -> Server | None:
        up = self._up if avoid is None else [s for s in self._up if s is not avoid]
        if not up:
            return None
        if self.scenario.topology.balancer == "random":
            return up[self.rng_balancer.randrange(len(up))]
        self._rr += 1
        return up[self._rr % len(up)]

    def _send(
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
        attempt = Attempt(self._next_id("a"), client, request, fp, wake)
        self.history.record(request_event(self.now_ms(), attempt.id, client, request, fp))
        server.inflight[attempt.id] = attempt
        self.env.process(self._serve(server, attempt))
        return attempt

    def _serve(self, server: Server, attempt: Attempt) -> Generator[Any, Any, None]:
        generation = server.generation
        workers = server.workers
        slot = workers.acquire()
        if slot is not None:
            yield slot
        try:
            if server.generation != generation:
                return
            driver: FlowDriver[Response] = FlowDriver(
                payment_flow(attempt.request, self.variant, attempt.id)
            )
            finished = yield from self._drive(driver, attempt.id, server)
        finally:
            workers.release()
        if not finished:
            return
        response = driver.result
        assert response is not None
        attempt.response = response
        server.inflight.pop(attempt.id, None)
        self.history.record(
            response_event(
                self.now_ms(), attempt.id, attempt.client, attempt.request, response,
                attempt.fingerprint,
            )
        )  # fmt: skip
        if not attempt.wake.triggered:
            attempt.wake.succeed(response)

    # --- answering effects ----------------------------------------------------------------

    def _drive(
        self, driver: FlowDriver[Any], attempt: str, server: Server
    ) -> Generator[Any, Any, bool]:
        """Answer effects until the flow returns (True) or its server dies (False).

        The simulator's hot loop: one pass per effect of every request, so it reads its
        collaborators into locals and calls the world's handlers directly."""
        env, faults = self.env, self.faults
        handle = self.world.perform
        generation = server.generation
        boundary = self._boundary and server.index >= 0
        while not driver.done:
            if server.generation != generation:
                return False
            now = env.now
            if server.stalled_until > now:
                yield env.timeout(server.stalled_until - now)
                continue
            effect = driver.pending
            cls = type(effect)
            if cls is ClockRead:
                driver.send(self._tick())
                continue
            if cls is Sleep:
                yield env.timeout(effect.ms * US_PER_MS)  # type: ignore[union-attr]
                driver.send(None)
                continue
            if boundary and self._boundary_faults(server, attempt, cls.__name__):
                return False
            backend = cls.backend  # type: ignore[union-attr]
            value: Any = None
            fault: Fault | None = None
            answered = False  # the Postgres and charge paths answer inside their own steps
            if backend == "redis":
                yield env.timeout(self.redis_latency())
            elif backend == "postgres":
                pool = server.pool
                conn = pool.acquire()
                if conn is not None:
                    yield conn
                try:
                    yield env.timeout(self.pg_latency())
                    if cls is DbTransaction and faults.specs("postgres_commit_failure"):
                        spec = faults.hit("postgres_commit_failure", env.now, "DbTransaction")
                        if spec is not None:
                            self.note("fault", "postgres: commit failed, nothing applied", attempt)
                            fault = Unavailable("postgres: commit failed (injected)")
                    if fault is None:
                        self._tick()
                        try:
                            value = handle(effect)  # type: ignore[arg-type]
                        except Fault as exc:
                            fault = exc
                finally:
                    pool.release()
                answered = True
            elif cls is ProviderCharge:
                value, fault = yield from self._charge(effect, attempt)  # type: ignore[arg-type]
                answered = True
            else:
                yield env.timeout(self.stripe_latency())
            if not answered:
                self._tick()
                try:
                    value = handle(effect)  # type: ignore[arg-type]
                except Fault as exc:
                    fault = exc
            if server.generation != generation:
                return False  # the reply reached a dead server
            if self.record_effects:
                answer = repr(fault) if fault is not None else repr(value)
                self.note("effect", f"{describe(effect)} → {answer}"[:300], attempt)  # type: ignore[arg-type]
            if fault is not None:
                driver.throw(fault)
            else:
                driver.send(value)
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
        """The provider call in two halves, with rate limit, 429/5xx/lost reply and spikes."""
        env, faults = self.env, self.faults
        stripe = self.world.stripe
        if faults.hit("stripe_429", env.now) is not None or not self.bucket.take(int(env.now)):
            yield env.timeout(FAST_ERROR_US)
            self.note("fault", "stripe: 429 rate_limit", attempt)
            return None, Unavailable("stripe: 429 rate_limit (not saved; safe to retry)")
        self._tick()
        try:
            started = stripe.begin(
                effect.idempotency_key,
                effect.amount,
                effect.currency,
                effect.source,
                effect.metadata_dict(),
            )
        except Fault as fault:
            yield env.timeout(FAST_ERROR_US)
            return None, fault
        latency = self.stripe_latency()
        for spike in faults.active("stripe_latency_spike", env.now):
            latency = int(latency * spike.factor + spike.extra_ms * US_PER_MS)
        if isinstance(started, ChargeResult):
            yield env.timeout(latency)
            return started, None
        ticket = started
        server_error = faults.hit("stripe_5xx", env.now)
        lost = faults.hit("stripe_lost_reply", env.now)
        limit = self.variant.provider_timeout_ms * US_PER_MS
        if latency > limit:
            # The server stops waiting; the provider still finishes the charge later.
            env.process(self._finish_later(ticket, latency))
            yield env.timeout(limit)
            self.note("fault", "stripe: read timeout; the charge completes later", attempt)
            return None, OutcomeUnknown("stripe: read timeout (the charge may have happened)")
        yield env.timeout(latency)
        self._tick()
        if server_error is not None:
            try:
                stripe.finish(ticket, applied=server_error.charged)
            except Fault:
                pass
            made = "after" if server_error.charged else "without"
            self.note("fault", f"stripe: 500 {made} making the charge", attempt)
            return None, OutcomeUnknown(f"stripe: 500 api_error ({made} the charge)")
        try:
            result = stripe.finish(ticket)
        except Fault as fault:
            return None, fault
        if lost is not None:
            self.note("fault", "stripe: reply lost after the charge executed", attempt)
            return None, OutcomeUnknown("stripe: read timeout (the charge may have happened)")
        return result, None

    def _finish_later(self, ticket: Any, latency: int) -> Generator[Any, Any, None]:
        yield self.env.timeout(latency - self.variant.provider_timeout_ms * US_PER_MS)
        self._tick()
        try:
            self.world.stripe.finish(ticket)
        except Fault:
            pass

    # --- scheduled faults -----------------------------------------------------------------

    def _schedule_faults(self) -> None:
        for kind, items in self.faults.by_kind.items():
            for spec, start, end in items:
                if spec.probability is not None or spec.effect is not None:
                    continue
                if kind in ("redis_unavailable", "postgres_unavailable"):
                    self.env.process(self._window(spec, start, end))
                elif kind == "redis_failover":
                    self.env.process(self._failover(spec, start, end))
                elif kind == "server_crash":
                    self.env.process(self._scheduled_crash(spec, start))
                elif kind == "server_stall":
                    self.env.process(self._scheduled_stall(spec, start))
                elif kind in ("stripe_latency_spike", "provider_key_window"):
                    self.env.process(self._announce(spec, start, end))

    def _announce(self, spec: FaultSpec, start: int, end: int) -> Generator[Any, Any, None]:
        yield self.env.timeout(start)
        self.note("fault", f"{spec.kind} begins")
        if end > start:
            yield self.env.timeout(end - start)
            self.note("fault", f"{spec.kind} ends")

    def _window(self, spec: FaultSpec, start: int, end: int) -> Generator[Any, Any, None]:
        model = self.world.redis if spec.kind == "redis_unavailable" else self.world.postgres
        yield self.env.timeout(start)
        if self.faults.healed:
            return
        model.available = False
        self.note("fault", f"{spec.kind}: refusing connections for {(end - start) / 1e6:g} s")
        yield self.env.timeout(end - start)
        model.available = True
        self.note("fault", f"{spec.kind}: back")

    def _failover(self, spec: FaultSpec, start: int, end: int) -> Generator[Any, Any, None]:
        yield self.env.timeout(start)
        if self.faults.healed:
            return
        lost = self.world.redis.lose_data()
        self.note("fault", f"redis failover: replica promoted, {lost} keys lost")
        if end > start:
            self.world.redis.available = False
            yield self.env.timeout(end - start)
            self.world.redis.available = True
            self.note("fault", "redis failover complete")

    def _scheduled_crash(self, spec: FaultSpec, start: int) -> Generator[Any, Any, None]:
        yield self.env.timeout(start)
        server = self.servers[spec.server if spec.server is not None else 0]
        if server.up and not self.faults.healed:
            self._crash(server, "(scheduled)", spec.restart_s)

    def _scheduled_stall(self, spec: FaultSpec, start: int) -> Generator[Any, Any, None]:
        yield self.env.timeout(start)
        server = self.servers[spec.server if spec.server is not None else 0]
        server.stalled_until = int(self.env.now) + int(spec.stall_s * US_PER_S)
        self.note("fault", f"{server.name} stalls for {spec.stall_s:g} s (scheduled)")

    def _crash(self, server: Server, where: str, restart_s: float) -> None:
        server.up = False
        self._up = [s for s in self.servers if s.up]
        server.generation += 1
        victims = list(server.inflight.values())
        server.inflight.clear()
        self.note("crash", f"{server.name} crashed {where}; {len(victims)} requests lost")
        for attempt in victims:
            self.note("crash", f"{server.name} died while handling this request", attempt.id)
            if not attempt.wake.triggered:
                attempt.wake.succeed(None)  # the client sees the connection reset
        self.env.process(self._restart_later(server, restart_s))

    def _restart_later(self, server: Server, restart_s: float) -> Generator[Any, Any, None]:
        generation = server.generation
        yield self.env.timeout(int(restart_s * US_PER_S))
        if server.generation == generation and not server.up:
            self._restart(server)

    def _restart(self, server: Server) -> None:
        fresh = self._new_server(server.index)
        server.workers, server.pool = fresh.workers, fresh.pool
        server.up = True
        self._up = [s for s in self.servers if s.up]
        server.stalled_until = 0
        self.note("fault", f"{server.name} restarted")


def simulate(
    scenario: Scenario,
    variant_name: str,
    seed: int,
    *,
    history: History,
    record_effects: bool = True,
    world_factory: Callable[[Variant, ModelClock, History], World] | None = None,
    progress: Callable[[Metrics], None] | None = None,
) -> tuple[SimWorld, float]:
    """Build the world of a scenario, variant and seed and run it to its end: the world, and
    the wall seconds the run took (what a run in this process and one apart both do)."""
    sim = SimWorld(
        scenario,
        variant_named(variant_name),
        seed,
        history=history,
        record_effects=record_effects,
        world_factory=world_factory,
        progress=progress,
    )
    started = time.perf_counter()
    sim.run()
    return sim, time.perf_counter() - started
