"""One load level of a capacity sweep: offer ``rate`` payments/s open loop for a short
while to a world of a capacity scenario, and measure what came back and how busy each
resource was.

Open loop as ``payharness bench live`` offers it (a request is sent when it is due, whatever
is still unanswered; one attempt, no retries), but with Poisson arrivals (many independent
clients). Only the load phase runs: no faults, no settle, no checker; this answers "how
fast", the scenarios answer "how correct"."""

from __future__ import annotations

import math
import random
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import simpy

from core.domain import FINAL_OUTCOMES, PaymentRequest, Response, fingerprint
from core.flows.payment import payment_flow
from core.history import History
from core.runtime.driver import FlowDriver
from core.variants import variant_named
from sim.backends import TokenBucket
from sim.capacity_shared import Queued, SharedServer
from sim.clients import DECLINE_SOURCE, SUCCESS_SOURCE, TIMED_OUT, ClientTimer
from sim.engine import SimWorld
from sim.scenario import Scenario
from sim.timeline import US_PER_MS, US_PER_S, Task

PATHS = ("new", "replay")
"""``new``: every request a new payment. ``replay``: every request resends an answered
payment's key and payload (a client retrying after a lost answer): the cache answers."""

TARGET_REQUESTS = 3_000
"""Requests a level aims to send: its length is this over the rate, within the bounds below."""
MIN_S, MAX_S = 0.1, 4.0
WARMUP_SHARE = 0.25
"""The first quarter of a level fills the queues and is not measured."""
DRAIN_S = 1.0
"""After the arrivals stop, answers are awaited this long (4 SLOs); later ones count as
infinitely late."""
REPLAY_KEYS = 500
"""Answered payments a replay level resends, at random."""
SAMPLES = 100
"""Samples of the servers' pools per level."""

RESOURCES = (
    "server CPU",
    "server workers",
    "server DB pool",
    "Postgres",
    "Redis (busiest shard)",
    "provider rate limit",
)
SHARED = frozenset(RESOURCES[3:])
"""The resources every server shares (the rest are each server's own)."""
SATURATED = 0.93


@dataclass(frozen=True, slots=True)
class Level:
    """One offered rate and what it got: throughput, latency, and per resource its mean
    utilisation (0–1) and use per answered payment."""

    rate: float
    achieved: float
    p50_ms: float
    p99_ms: float
    sent: int
    errors: int
    held: bool
    utilisation: dict[str, float] = field(default_factory=dict)
    per_payment: dict[str, float] = field(default_factory=dict)

    @property
    def bottleneck(self) -> str:
        """The resource that limits this level: a shared service (Postgres, Redis, the
        provider) at least ``SATURATED`` busy, the busiest of them; else the servers' CPU
        (their event loops, ``sim.cpu``) when at least ``SATURATED`` busy; else the busiest
        resource. A worker or a pooled connection counts as busy while it waits for a shared
        service or for its loop, so when Postgres or the CPU saturates the workers look as busy
        as it: the cause is Postgres or the CPU."""
        shared = {r: u for r, u in self.utilisation.items() if r in SHARED}
        if shared and max(shared.values()) >= SATURATED:
            return max(shared, key=lambda r: shared[r])
        if self.utilisation.get("server CPU", 0.0) >= SATURATED:
            return "server CPU"
        return max(self.utilisation, key=lambda r: self.utilisation[r])


class _CountingBucket:
    """The provider's rate limit, counting the calls that asked it."""

    __slots__ = ("asked", "inner")

    def __init__(self, inner: TokenBucket) -> None:
        self.inner = inner
        self.asked = 0

    def take(self, now: int) -> bool:
        self.asked += 1
        return self.inner.take(now)


def level_seconds(rate: float) -> float:
    return min(MAX_S, max(MIN_S, TARGET_REQUESTS / rate))


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return math.inf
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _shared(sampler: Any) -> list[SharedServer]:
    return sampler.servers if isinstance(sampler, Queued) else []


class _Counters:
    """Cumulative work of every resource at one instant."""

    def __init__(self, sim: SimWorld, bucket: _CountingBucket, pools: list[float]) -> None:
        pg = _shared(sim.backends.pg_latency)
        redis = _shared(sim.backends.redis_latency)
        self.pg_jobs = sum(s.jobs for s in pg)
        self.pg_busy = sum(s.busy_us for s in pg)
        self.redis_jobs = sum(s.jobs for s in redis)
        self.redis_busy = [s.busy_us for s in redis]
        self.provider = bucket.asked
        self.workers, self.pool = pools[0], pools[1]
        cpu = sim.fleet.cpu
        self.cpu_own = cpu.own_busy_us if cpu is not None else 0


def run_level(
    scenario: Scenario, variant: str, path: str, rate: float, slo_ms: float, seed: int
) -> Level:
    """Offer ``rate`` payments/s of ``path`` to ``scenario``'s world under ``variant``."""
    sim = SimWorld(
        scenario, variant_named(variant), seed, history=History(keep=False), record_effects=False
    )
    env = sim.env
    bucket = _CountingBucket(sim.fleet.bucket)
    sim.fleet.bucket = bucket  # type: ignore[assignment]
    seconds = level_seconds(rate)
    end_us = int(seconds * US_PER_S)
    start_us = int(seconds * WARMUP_SHARE * US_PER_S)
    timeout_us = scenario.client.timeout_ms * US_PER_MS
    rng = random.Random(f"{seed}:capacity:{path}")
    replays = _prefill(sim, REPLAY_KEYS) if path == "replay" else []
    timer = ClientTimer(env)
    decline = scenario.workload.decline_rate
    latencies: list[float] = []
    errors = 0
    answered_in_window = 0
    pools = [0.0, 0.0]  # integrals of used workers and connections over the window, µs

    counted = [0]  # requests sent inside the window

    def one(request: PaymentRequest) -> Generator[Any, Any, None]:
        nonlocal errors, answered_in_window
        sent = env.now
        counted[0] += sent >= start_us
        wake = simpy.Event(env)
        attempt = sim.fleet.send(request, fingerprint(request), "cap", sim.balancer.pick(), wake)
        answer = None
        if attempt is not None:
            timer.expire_at(int(sent) + timeout_us, wake)
            answer = yield wake
        measured = sent >= start_us
        final = isinstance(answer, Response) and answer.outcome in FINAL_OUTCOMES
        if start_us <= env.now < end_us and final:
            answered_in_window += 1
        if measured:
            latencies.append((env.now - sent) / US_PER_MS if answer is not TIMED_OUT else math.inf)
            errors += not final

    def arrivals() -> Generator[Any, Any, None]:
        # Arrival times kept exact and waited for in whole µs: rounding each gap instead
        # would bias the rate by half a µs a gap (4 % at 100,000/s).
        n, due = 0, 0.0
        while True:
            due += rng.expovariate(rate) * US_PER_S
            if due >= end_us:
                return
            if int(due) > env.now:
                yield env.timeout(int(due) - env.now)
            n += 1
            request = replays[rng.randrange(len(replays))] if replays else _new(n, rng, decline)
            Task(env, one(request))

    snapshots: list[_Counters] = []

    def probe() -> Generator[Any, Any, None]:
        yield env.timeout(start_us)
        snapshots.append(_Counters(sim, bucket, pools))
        step = max(1, (end_us - start_us) // SAMPLES)
        while env.now < end_us:
            yield env.timeout(step)
            pools[0] += step * sum(s.workers.used for s in sim.servers)
            pools[1] += step * sum(s.pool.used for s in sim.servers)
        snapshots.append(_Counters(sim, bucket, pools))

    env.process(arrivals())
    env.process(probe())
    env.run(until=end_us + int(DRAIN_S * US_PER_S))
    latencies += [math.inf] * (counted[0] - len(latencies))  # still unanswered at the end
    return _judge(sim, rate, seconds, latencies, errors, answered_in_window, snapshots, slo_ms)


def _judge(
    sim: SimWorld,
    rate: float,
    seconds: float,
    latencies: list[float],
    errors: int,
    answered: int,
    snapshots: list[_Counters],
    slo_ms: float,
) -> Level:
    window_s = seconds * (1 - WARMUP_SHARE)
    window_us = window_s * US_PER_S
    sent = len(latencies)
    achieved = answered / window_s
    p99 = _quantile(latencies, 0.99)
    held = p99 < slo_ms and errors <= max(1, 0.01 * sent) and achieved >= 0.9 * rate
    topo = sim.scenario.topology_for(sim.variant.name)
    a, b = snapshots
    util: dict[str, float] = {
        "server workers": (b.workers - a.workers) / (window_us * topo.workers * topo.servers),
        "server DB pool": (b.pool - a.pool) / (window_us * topo.pg_pool * topo.servers),
        "provider rate limit": (b.provider - a.provider) / (topo.stripe_rate_limit * window_s),
    }
    per = max(1, answered)
    demand: dict[str, float] = {
        "worker_ms": (b.workers - a.workers) / US_PER_MS / per,
        "pool_ms": (b.pool - a.pool) / US_PER_MS / per,
        "provider_calls": (b.provider - a.provider) / per,
    }
    if sim.fleet.cpu is not None and b.cpu_own > 0:
        loops = topo.servers * topo.server_cores
        util["server CPU"] = (b.cpu_own - a.cpu_own) / (window_us * loops)
        demand["server_cpu_ms"] = (b.cpu_own - a.cpu_own) / US_PER_MS / per
    pg = _shared(sim.backends.pg_latency)
    if pg:
        util["Postgres"] = (b.pg_busy - a.pg_busy) / (window_us * pg[0].cores)
        demand["postgres_queries"] = (b.pg_jobs - a.pg_jobs) / per
    redis = _shared(sim.backends.redis_latency)
    if redis:
        busiest = max(y - x for x, y in zip(a.redis_busy, b.redis_busy, strict=True))
        util["Redis (busiest shard)"] = busiest / window_us
        demand["redis_ops"] = (b.redis_jobs - a.redis_jobs) / per
    return Level(
        rate=rate,
        achieved=achieved,
        p50_ms=_quantile(latencies, 0.5),
        p99_ms=p99,
        sent=sent,
        errors=errors,
        held=held,
        utilisation={k: min(1.0, v) for k, v in util.items()},
        per_payment=demand,
    )


def _new(n: int, rng: random.Random, decline_rate: float) -> PaymentRequest:
    source = DECLINE_SOURCE if rng.random() < decline_rate else SUCCESS_SOURCE
    return PaymentRequest(
        f"m{n % 3}", f"o{n:07d}", 500 + rng.randrange(19_500), "usd", source, f"k{n:07d}"
    )


def _prefill(sim: SimWorld, count: int) -> list[PaymentRequest]:
    """``count`` payments answered and cached before the level starts (driven through the
    world's models at time 0, with no latency), for a replay level to resend."""
    rng = random.Random(0)
    requests = [_new(10_000_000 + i, rng, 0.0) for i in range(count)]
    for i, request in enumerate(requests):
        driver: FlowDriver[Response] = FlowDriver(
            payment_flow(request, sim.variant, f"pre{i}", sim.world.contract)
        )
        while not driver.done:
            effect = driver.pending
            assert effect is not None
            driver.send(sim.world.perform(effect))
    return requests
