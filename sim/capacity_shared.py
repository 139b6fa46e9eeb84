"""Shared backends with a capacity: one Postgres server (``postgres_cores``) and Redis Cluster
shards (``redis_shards``) that every application server queues at.

Each is a first-come-first-served queue of ``c`` identical servers with a fixed service time.
Serving in arrival order on the server free first is exactly FCFS, so a query's wait is
computed when it arrives, with no SimPy events: the latency sampler a server already calls
returns ``wait + max(latency, service)`` (the service hides inside the round trip when the
server is idle, and queueing adds to it when it is not). With the keys at 0 nothing here is
built and a run is as before."""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable

from sim.latency import Sampler
from sim.timeline import US_PER_S


class SharedServer:
    """``cores`` servers of one queue, each busy ``service_us`` per job; counts its work."""

    __slots__ = ("busy_us", "free_at", "jobs", "service_us", "waited_us")

    def __init__(self, cores: int, service_us: int) -> None:
        self.free_at = [0] * cores
        self.service_us = max(1, service_us)
        self.jobs = 0
        self.busy_us = 0
        self.waited_us = 0

    @property
    def cores(self) -> int:
        return len(self.free_at)

    @property
    def per_s(self) -> float:
        """Jobs per second the queue serves when always busy."""
        return self.cores * US_PER_S / self.service_us

    def wait(self, now: int) -> int:
        """Take a core for a job arriving at ``now``; how long it queues first."""
        start = max(now, self.free_at[0])
        heapq.heapreplace(self.free_at, start + self.service_us)
        self.jobs += 1
        self.busy_us += self.service_us
        self.waited_us += start - now
        return start - now


class Queued:
    """A latency sampler behind shared servers: the wait for a core of one of ``servers``
    (chosen by ``pick``), then the round trip, at least the service time."""

    __slots__ = ("_inner", "_now", "_pick", "servers")

    def __init__(
        self,
        inner: Sampler,
        servers: list[SharedServer],
        now: Callable[[], float],
        pick: Callable[[], int] | None = None,
    ) -> None:
        self._inner = inner
        self.servers = servers
        self._now = now
        self._pick = pick

    def __call__(self) -> int:
        shard = self.servers[self._pick() if self._pick is not None else 0]
        queued = shard.wait(int(self._now()))
        return queued + max(self._inner(), shard.service_us)


def postgres(inner: Sampler, cores: int, query_ms: float, now: Callable[[], float]) -> Queued:
    """One Postgres server of ``cores`` cores, ``query_ms`` per query."""
    return Queued(inner, [SharedServer(cores, round(query_ms * 1000))], now)


def redis_cluster(
    inner: Sampler, shards: int, ops_per_s: float, now: Callable[[], float], rng: random.Random
) -> Queued:
    """``shards`` single-threaded Redis primaries. A key's hash slot picks its shard; the
    simulator's keys are random, so a uniform draw from ``rng`` (a stream of its own, so
    the latency draws stay as they were) stands in for the slot: a hot key is not modelled."""
    servers = [SharedServer(1, round(US_PER_S / ops_per_s)) for _ in range(shards)]
    pick = None if shards == 1 else (lambda: rng.randrange(shards))
    return Queued(inner, servers, now, pick)
