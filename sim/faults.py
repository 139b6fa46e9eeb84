"""The faults that act on the world by themselves: windows when Redis or Postgres refuse
connections, a Redis failover, scheduled server crashes and stalls, and every crash's restart.
Per-effect faults are drawn where the effect is answered (``sim.servers``) from the same
``FaultBook``."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from core.runtime.world import World
from sim.fault_book import FaultBook
from sim.scenario import FaultSpec, Topology
from sim.servers import Balancer, Server, fresh_pools
from sim.timeline import US_PER_S, Timeline


class FaultInjector:
    """Starts a process per scheduled fault, and crashes and restarts servers."""

    def __init__(
        self,
        timeline: Timeline,
        world: World,
        faults: FaultBook,
        balancer: Balancer,
        topology: Topology,
    ) -> None:
        self.env = timeline.env
        self.note = timeline.note
        self.world = world
        self.faults = faults
        self.balancer = balancer
        self.servers = balancer.servers
        self.topology = topology

    def schedule(self) -> None:
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
            self.crash(server, "(scheduled)", spec.restart_s)

    def _scheduled_stall(self, spec: FaultSpec, start: int) -> Generator[Any, Any, None]:
        yield self.env.timeout(start)
        server = self.servers[spec.server if spec.server is not None else 0]
        server.stalled_until = int(self.env.now) + int(spec.stall_s * US_PER_S)
        self.note("fault", f"{server.name} stalls for {spec.stall_s:g} s (scheduled)")

    def crash(self, server: Server, where: str, restart_s: float) -> None:
        """The server dies: its requests are lost (clients see a reset), it restarts later."""
        server.up = False
        self.balancer.refresh()
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
            self.restart(server)

    def restart(self, server: Server) -> None:
        """The server is back with fresh pools (its old workers' waiters died with it)."""
        server.workers, server.pool = fresh_pools(self.env, self.topology)
        server.up = True
        self.balancer.refresh()
        server.stalled_until = 0
        self.note("fault", f"{server.name} restarted")
