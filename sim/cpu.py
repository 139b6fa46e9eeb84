"""The machine's CPU: cores that the servers and the processes beside them share.

Without it a server is only ``workers`` concurrent slots and every delay is a backend's
latency, so nothing saturates but pools and the provider's rate limit. On a live machine the
knee is CPU: Python servers (each one event loop under the GIL: at most ``server_cores`` cores
at a time), the provider mock, Redis, Postgres and the load generator take turns on the same
few cores. Here a request, once its flow has answered, spends its path's CPU
(``cpu_ms_new``/``_replay``/``_conflict``) holding its server's event loop and one core, in
arrival order (FIFO; a queue for the loop, then for a core). The other processes' CPU for the
same request (``shared_cpu_ms_*``) takes a core beside it, off the request's path, and other
work on the machine (``cpu_background`` cores on average) takes cores in short slices that
arrive at random, queueing for a core like the rest (as CFS shares a core among runnable
processes, roughly; a FIFO of whole bursts, not time slices).

With ``cores = 0`` (the default) or no CPU figures there is no ``Cpu`` at all and a run is
the same event for event as before the model existed.
"""

from __future__ import annotations

import random
from collections.abc import Generator
from typing import Any

import simpy

from core.domain import Response
from sim.backends import Pool
from sim.scenario import Topology
from sim.timeline import US_PER_MS, Task, Wait

NEW, REPLAY, CONFLICT = "new", "replay", "conflict"
PATHS = (NEW, REPLAY, CONFLICT)

BACKGROUND_SLICE_US = 4 * US_PER_MS
"""Other work takes a core for this long at a time (about a Linux CFS slice)."""


def path_of(response: Response | None) -> str:
    """Which path a request took, from its answer: a replay of an earlier answer, a refusal
    (409 while another request holds the key, 422 for another payload) or a new payment."""
    if response is None:
        return NEW
    if response.replayed:
        return REPLAY
    if response.status in (409, 422):
        return CONFLICT
    return NEW


def wanted(topology: Topology) -> bool:
    """Whether the topology asks for a CPU model at all."""
    figures = (
        topology.cpu_ms_new, topology.cpu_ms_replay, topology.cpu_ms_conflict,
        topology.shared_cpu_ms_new, topology.shared_cpu_ms_replay,
        topology.shared_cpu_ms_conflict, topology.cpu_background,
    )  # fmt: skip
    return topology.cores > 0 and any(f > 0 for f in figures)


class Cpu:
    """The cores, one event loop per server, and the CPU each path costs."""

    def __init__(self, env: simpy.Environment, topology: Topology, rng: random.Random) -> None:
        self.env = env
        self.cores = Pool(env, topology.cores)
        self.server_cores = topology.server_cores
        self.loops: dict[int, Pool] = {}
        """Each server's event loop(s), by server index (a restart keeps its loop)."""
        us = US_PER_MS
        self.own = {
            NEW: int(topology.cpu_ms_new * us),
            REPLAY: int(topology.cpu_ms_replay * us),
            CONFLICT: int(topology.cpu_ms_conflict * us),
        }
        self.shared = {
            NEW: int(topology.shared_cpu_ms_new * us),
            REPLAY: int(topology.shared_cpu_ms_replay * us),
            CONFLICT: int(topology.shared_cpu_ms_conflict * us),
        }
        self.rng = rng
        self.busy_us = 0
        """Core time spent by the system's processes (not the background), for checks."""
        if topology.cpu_background > 0:
            Task(env, self._background(topology.cpu_background))

    def spend(self, server: int, response: Response | None) -> Generator[Any, Any, None]:
        """The CPU of the request that got ``response`` from server ``server``: its own on
        its server's loop and a core (waited for here), the others' beside it."""
        path = path_of(response)
        shared = self.shared[path]
        if shared:
            Task(self.env, self._burn(shared))
        own = self.own[path]
        if not own:
            return
        loop = self.loops.get(server)
        if loop is None:
            loop = self.loops[server] = Pool(self.env, self.server_cores)
        held = loop.acquire()
        if held is not None:
            yield held
        try:
            yield from self._burn(own)
        finally:
            loop.release()

    def _burn(self, us: int) -> Generator[Any, Any, None]:
        """Hold one core for ``us`` microseconds (after waiting for one)."""
        held = self.cores.acquire()
        if held is not None:
            yield held
        try:
            yield Wait(self.env, us)
            self.busy_us += us
        finally:
            self.cores.release()

    def _background(self, cores_busy: float) -> Generator[Any, Any, None]:
        """Work outside the system: slices of ``BACKGROUND_SLICE_US`` of core time arriving
        at random (Poisson) at the rate that keeps ``cores_busy`` cores busy on average,
        whether or not they must queue for a core."""
        env, rng = self.env, self.rng
        mean_gap = BACKGROUND_SLICE_US / cores_busy
        while True:
            yield Wait(env, int(rng.expovariate(1 / mean_gap)))
            Task(env, self._slice())

    def _slice(self) -> Generator[Any, Any, None]:
        held = self.cores.acquire()
        if held is not None:
            yield held
        yield Wait(self.env, BACKGROUND_SLICE_US)
        self.cores.release()
