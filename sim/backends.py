"""What stands behind the servers: Redis, Postgres and the provider as latency, capacity and
rate limit. Their semantics are the core's models (``sim_world``); this module only says how
long an answer takes and how many may be asked at once."""

from __future__ import annotations

import random
from collections import deque

import simpy

from core.history import History
from core.models.clock import ModelClock
from core.providers import STRIPE, ProviderContract
from core.runtime.world import World
from core.variants import Variant
from sim import capacity_shared
from sim.capacity_shared import Queued
from sim.latency import Latency, Sampler
from sim.scenario import Topology
from sim.timeline import US_PER_MS, US_PER_S

FAST_ERROR_US = 20 * US_PER_MS
"""A refused call (429, connection refused) answers in about one round trip; assumption."""


def sim_world(
    variant: Variant, clock: ModelClock, history: History, contract: ProviderContract = STRIPE
) -> World:
    """The core's world as a simulation uses it: effects not written to the history (the
    engine notes them itself when asked), and only illegal transitions kept; the provider's
    model keeps ``contract``'s promises."""
    world = World(variant, clock, history, record_effects=False, contract=contract)
    world.postgres.keep_legal_transitions = False
    return world


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
        return self.wait()

    def wait(self) -> simpy.Event:
        """When no slot is free: the event that fires with one (the hot path inlines the
        free-slot test of ``acquire`` and calls this only when it fails)."""
        event = self.env.event()
        self.waiters.append(event)
        return event

    def release(self) -> None:
        if self.waiters:
            self.waiters.popleft().succeed()  # the slot passes straight to the next in line
        else:
            self.used -= 1


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


class Backends:
    """The three backends' latencies (one random stream between them, drawn in call order)
    and the provider's rate limit, as the topology sets them; with ``postgres_cores`` or
    ``redis_shards`` (and ``env`` to read the time) the shared servers' queues before them
    (``sim.capacity_shared``)."""

    __slots__ = ("bucket", "pg_latency", "redis_latency", "stripe_latency")

    def __init__(
        self,
        topology: Topology,
        rng: random.Random,
        env: simpy.Environment | None = None,
        shard_rng: random.Random | None = None,
    ) -> None:
        self.redis_latency: Sampler | Queued = Latency(
            topology.redis_median_ms, topology.redis_p99_ms, *topology.tail("redis")
        ).sampler(rng)
        self.pg_latency: Sampler | Queued = Latency(
            topology.postgres_median_ms, topology.postgres_p99_ms, *topology.tail("postgres")
        ).sampler(rng)
        if env is not None and topology.postgres_cores:
            self.pg_latency = capacity_shared.postgres(
                self.pg_latency, topology.postgres_cores, topology.postgres_query_ms,
                lambda: env.now,
            )  # fmt: skip
        if env is not None and topology.redis_shards:
            self.redis_latency = capacity_shared.redis_cluster(
                self.redis_latency, topology.redis_shards, topology.redis_ops_per_s,
                lambda: env.now, shard_rng or random.Random(0),
            )  # fmt: skip
        self.stripe_latency: Sampler = Latency(
            topology.stripe_median_ms, topology.stripe_p99_ms, *topology.tail("stripe")
        ).sampler(rng)
        self.bucket = TokenBucket(topology.stripe_rate_limit)
