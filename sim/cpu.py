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
cores. Cores go as Linux's CFS gives them (``FairCores``): every burst is cut into slices,
a waiting slice goes to the process that has had the least CPU, and a process that wakes
from sleep (an I/O-bound server between requests) is served ahead of CPU-bound jobs, so
other work slows a server's requests little until the server itself needs its fair share.

With ``cores = 0`` (the default) or no CPU figures there is no ``Cpu`` at all and a run is
the same event for event as before the model existed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Generator
from heapq import heappop, heappush
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


WAKE_BONUS_US = 6 * US_PER_MS
"""A process that wakes after sleeping is placed this far behind the most starved runnable
process (CFS's sleeper credit, half its 12 ms latency target on two cores): an I/O-bound
server that wakes is served before the CPU-bound jobs it shares the cores with."""


class Owner:
    """A process as the scheduler sees it: the CPU time it has had (its virtual runtime)
    and whether it has work queued or running."""

    __slots__ = ("runnable", "vruntime")

    def __init__(self) -> None:
        self.vruntime = 0
        self.runnable = 0


class FairCores:
    """Cores handed out as Linux's CFS does, roughly: a free core to whoever asks, else to the
    waiting process that has had the least CPU; a process waking from sleep starts just
    behind the least served runnable one, so it neither owes the time it slept nor loses
    its turn. A slice runs to its end (no preemption inside one)."""

    __slots__ = ("env", "free", "min_vruntime", "seq", "waiting")

    def __init__(self, env: simpy.Environment, cores: int) -> None:
        self.env = env
        self.free = cores
        self.waiting: list[tuple[int, int, simpy.Event, Owner]] = []
        self.min_vruntime = 0
        self.seq = 0

    def acquire(self, owner: Owner) -> simpy.Event | None:
        """None when a core was free and is now held; else the event that fires with one."""
        if not owner.runnable:
            owner.vruntime = max(owner.vruntime, self.min_vruntime - WAKE_BONUS_US)
        owner.runnable += 1
        if self.free > 0:
            self.free -= 1
            return None
        event = simpy.Event(self.env)
        self.seq += 1
        heappush(self.waiting, (owner.vruntime, self.seq, event, owner))
        return event

    def release(self, owner: Owner, ran_us: int) -> None:
        owner.vruntime += ran_us
        owner.runnable -= 1
        if self.waiting:
            self.min_vruntime = max(self.min_vruntime, self.waiting[0][0])
            heappop(self.waiting)[2].succeed()  # the core passes to the least served
        else:
            self.min_vruntime = max(self.min_vruntime, owner.vruntime)
            self.free += 1


class Cpu:
    """The cores, one event loop per server, and the CPU each path costs."""

    def __init__(self, env: simpy.Environment, topology: Topology, rng: random.Random) -> None:
        self.env = env
        self.cores = FairCores(env, topology.cores)
        self.server_cores = topology.server_cores
        self.loops: dict[int, tuple[Pool, Owner]] = {}
        """Each server's event loop(s) and its process, by server index (a restart keeps
        them)."""
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
        self.own_busy_us = 0
        """Core time the servers' own CPU took (``cpu_ms_*``; not the shared processes')."""
        others = topology.cpu_background
        if others > 0:
            jobs = math.ceil(others)
            for _ in range(jobs):
                Task(env, self._background(others / jobs))

    def spend(self, server: int, response: Response | None) -> Generator[Any, Any, None]:
        """The CPU of the request that got ``response`` from server ``server``: its own on
        its server's loop and the cores (waited for here), the others' beside it (each
        burst as a process of its own that wakes for it)."""
        path = path_of(response)
        shared = self.shared[path]
        if shared:
            Task(self.env, self._burn(shared, Owner()))
        own = self.own[path]
        if not own:
            return
        self.own_busy_us += own
        entry = self.loops.get(server)
        if entry is None:
            entry = self.loops[server] = (Pool(self.env, self.server_cores), Owner())
        loop, owner = entry
        held = loop.acquire()
        if held is not None:
            yield held
        try:
            yield from self._burn(own, owner)
        finally:
            loop.release()

    def _burn(self, us: int, owner: Owner) -> Generator[Any, Any, None]:
        """``us`` microseconds on the cores for ``owner``, in slices of at most ``SLICE_US``,
        asking for a core before each."""
        cores, env = self.cores, self.env
        self.busy_us += us
        while us > 0:
            held = cores.acquire(owner)
            if held is not None:
                yield held
            step = min(us, SLICE_US)
            try:
                yield Wait(env, step)
            finally:
                cores.release(owner, step)
            us -= step

    def _background(self, share: float) -> Generator[Any, Any, None]:
        """One other process, runnable ``share`` of the time when it has a core to itself:
        slices of ``SLICE_US``, then a rest (exponential, mean so that alone it would be
        runnable ``share`` of the time; none for a CPU-bound job). On a busy machine it
        gets its fair turn, not a fixed share."""
        env, rng, cores = self.env, self.rng, self.cores
        owner = Owner()
        mean_gap = SLICE_US * (1 - share) / share if share < 1 else 0.0
        while True:
            if mean_gap > 0:
                yield Wait(env, int(rng.expovariate(1 / mean_gap)))
            held = cores.acquire(owner)
            if held is not None:
                yield held
            yield Wait(env, SLICE_US)
            cores.release(owner, SLICE_US)
