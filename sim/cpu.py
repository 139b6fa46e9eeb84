"""The machine's CPU: cores that the servers and the processes beside them share.

Without it a server is only ``workers`` concurrent slots and every delay is a backend's
latency, so nothing saturates but pools and the provider's rate limit. On a live machine the
knee is CPU: Python servers (each one event loop under the GIL: at most ``server_cores`` cores
at a time), the provider mock, Redis, Postgres and the load generator take turns on the same
few cores. Here a request, once its flow has answered, spends its path's CPU
(``cpu_ms_new``/``_replay``/``_conflict``) holding its server's event loop and one core, in
arrival order (FIFO; a queue for the loop, then for a core). The other processes' CPU for the
same request (``shared_cpu_ms_*``) takes a core beside it, off the request's path, and other
work on the machine (``cpu_background`` runnable processes on average) takes turns on the
cores in short slices, queueing like the rest: a fair turn, as Linux's CFS gives every
runnable process, not a fixed share (every burst is cut into slices, each queued for a
core in turn).

With ``cores = 0`` (the default) or no CPU figures there is no ``Cpu`` at all and a run is
the same event for event as before the model existed.
"""

from __future__ import annotations

import math
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

SLICE_US = 4 * US_PER_MS
"""A process holds a core for at most this long before it queues again (about a Linux CFS
slice): a long burst shares the cores in turns with every other runnable process."""


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
        others = topology.cpu_background
        if others > 0:
            jobs = math.ceil(others)
            for _ in range(jobs):
                Task(env, self._background(others / jobs))

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
        """``us`` microseconds on the cores, in slices of at most ``SLICE_US``, queueing for
        a core before each (round robin with every other runnable process)."""
        cores, env = self.cores, self.env
        self.busy_us += us
        while us > 0:
            held = cores.acquire()
            if held is not None:
                yield held
            step = min(us, SLICE_US)
            try:
                yield Wait(env, step)
            finally:
                cores.release()
            us -= step

    def _background(self, share: float) -> Generator[Any, Any, None]:
        """One other process, runnable ``share`` of the time when it has a core to itself:
        it queues for a core like the system's processes, holds it for a slice, then rests
        (exponential, mean so that alone it would be runnable ``share`` of the time). A busy
        machine stretches its cycle as it stretches theirs: it takes a fair turn, not a
        fixed share (CFS shares a core among the runnable processes)."""
        env, rng, cores = self.env, self.rng, self.cores
        mean_gap = SLICE_US * (1 - share) / share if share < 1 else 0.0
        while True:
            if mean_gap > 0:
                yield Wait(env, int(rng.expovariate(1 / mean_gap)))
            held = cores.acquire()
            if held is not None:
                yield held
            yield Wait(env, SLICE_US)
            cores.release()
