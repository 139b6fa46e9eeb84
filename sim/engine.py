"""The SimPy world, wired: clients (``sim.clients``) send to a balancer and servers
(``sim.servers``) that answer their flows' effects against the backends (``sim.backends``),
under the scenario's faults (``sim.fault_book``, ``sim.faults``). This module builds them for
one scenario, variant and seed and runs the load phase, then the settle phase, with the
reconciliation job beside both.
"""

from __future__ import annotations

import gc
import random
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any

import simpy

from core.domain import fingerprint
from core.flows.reconcile import ReconcileReport, reconcile_flow
from core.history import History
from core.models.clock import ModelClock
from core.providers import STRIPE, ProviderContract, provider_named
from core.runtime.driver import FlowDriver
from core.runtime.settle import heal, settle_wait_ms
from core.runtime.world import World
from core.variants import Variant, variant_named
from sim.backends import Backends, Pool, sim_world
from sim.clients import Clients
from sim.cpu import Cpu
from sim.cpu import wanted as cpu_wanted
from sim.fault_book import FaultBook
from sim.faults import FaultInjector
from sim.metrics import Metrics
from sim.scenario import Scenario
from sim.servers import Balancer, Fleet, Server, fresh_pools
from sim.timeline import US_PER_S, Task, Timeline, Wait

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


DRAIN_POLL_US = US_PER_S
"""How often settling looks whether the servers are done with what they hold."""
DRAIN_LIMIT_US = 3_600 * US_PER_S
"""Settling waits at most an hour for the servers: the design assumes no request lasts one."""
RECONCILE_PAGE = 100
"""Rows one reconciliation pass takes (``PaymentsToReconcile``'s limit)."""
RECONCILE_GAP_US = 5 * US_PER_S
RECONCILE_PASSES_MAX = 10_000
"""Bound on settle passes: 10,000 x 100 rows is more than any run holds."""

SETTLE_PACE = 2.0
"""Settle retries go out at 1/SETTLE_PACE of the provider's account rate limit."""

SETTLE_WINDOW = 1_000

QUEUE_SAMPLE_US = US_PER_S // 4
"""How often the load phase samples the worker queues for the report: four events per
simulated second, next to thousands for the requests, and nothing in the flows' hot path."""


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
        provider: ProviderContract = STRIPE,
    ) -> None:
        self.scenario = scenario
        self.progress = progress
        """Called with the metrics once per simulated second (long runs show how far along)."""
        self.variant = scenario.variant(variant)
        self.seed = scenario.seed if seed is None else seed
        self.env = simpy.Environment()
        self.clock = ModelClock()
        self.history = history if history is not None else History()
        if world_factory is None:
            self.world = sim_world(self.variant, self.clock, self.history, provider)
        else:
            self.world = world_factory(self.variant, self.clock, self.history)
        self.record_effects = record_effects
        self.metrics = Metrics()
        self.timeline = Timeline(self.env, self.clock, self.history)
        topo = scenario.topology_for(self.variant.name)
        self.faults = FaultBook(
            scenario.faults, scenario.load.duration_s, _stream(self.seed, "faults")
        )
        servers = [Server(i, *fresh_pools(self.env, topo)) for i in range(topo.servers)]
        self.balancer = Balancer(servers, topo.balancer, _stream(self.seed, "balancer"))
        self.injector = FaultInjector(self.timeline, self.world, self.faults, self.balancer, topo)
        self.backends = Backends(
            topo, _stream(self.seed, "latency"), self.env, _stream(self.seed, "shards")
        )
        self.fleet = Fleet(
            self.timeline,
            self.world,
            self.variant,
            self.faults,
            self.backends,
            self.metrics,
            self.injector.crash,
            record_effects=record_effects,
            cpu=Cpu(self.env, topo, _stream(self.seed, "cpu")) if cpu_wanted(topo) else None,
        )
        self.clients = Clients(
            self.timeline,
            scenario,
            self.metrics,
            self.balancer,
            self.fleet,
            _stream(self.seed, "arrivals"),
            _stream(self.seed, "clients"),
        )
        self.job_server = Server(-1, Pool(self.env, 1), Pool(self.env, 1))
        """Where the reconciliation job runs: no crash or stall reaches it."""
        self.settled = False
        self.reconcile_runs = 0

    @property
    def servers(self) -> list[Server]:
        return self.balancer.servers

    def now_ms(self) -> int:
        return self.timeline.now_ms()

    # --- running --------------------------------------------------------------------------

    def run(self) -> None:
        env = self.env
        Task(env, self.clients.arrivals())  # nobody waits on the arrivals: no process event
        env.process(self._reconciler())
        self.injector.schedule()
        main = env.process(self._main())
        env.process(self._sample_queues())
        if self.progress is not None:
            env.process(self._report_progress(self.progress))
        with fewer_gc_passes():
            env.run(until=main)
        self.metrics.end_ms = self.now_ms()

    def _report_progress(self, report: Callable[[Metrics], None]) -> Generator[Any, Any, None]:
        while True:
            yield self.env.timeout(US_PER_S)
            report(self.metrics)

    def _sample_queues(self) -> Generator[Any, Any, None]:
        """Requests waiting for a worker, summed over the servers, until the load phase
        ends. It only reads, so the run's events and outcomes are what they were without it."""
        metrics, servers, idle = self.metrics, self.servers, self.clients.idle
        while not idle.triggered:
            yield self.env.timeout(QUEUE_SAMPLE_US)
            metrics.queue_at_ms.append(self.now_ms())
            metrics.queue_depth.append(sum(len(s.workers.waiters) for s in servers))

    def _main(self) -> Generator[Any, Any, None]:
        yield self.clients.idle
        self.metrics.load_end_ms = self.now_ms()
        yield from self._settle()

    def _settle(self) -> Generator[Any, Any, None]:
        """Settle as ``core.runtime.settle`` does, in simulated time: heal every fault, let
        the servers finish what they hold (a paused server resumes at its own time) and the
        provider what it still executes, wait ``settle_wait_ms`` (past the lock TTL and the
        stale age), reconcile until the backlog is drained, then retry every key once with
        its first payload: E3 and E5 are judged on what this leaves."""
        env = self.env
        self.faults.healed = True
        heal(self.world)
        for server in self.servers:
            server.stalled_until = 0
            if not server.up:
                self.injector.restart(server)
        self.timeline.note("fault", "all faults healed")
        yield from self._drain()
        busy_until = self.fleet.provider_busy_until_us
        if busy_until > env.now:
            # A request a latency spike slowed down still runs at the provider (its key
            # answers 409) until it finishes; nothing can resolve its payment before that.
            yield env.timeout(busy_until - env.now)
            self.timeline.note("fault", "the provider finished the requests it was executing")
        wait_s = self.scenario.settle_s
        if wait_s is None:
            wait_s = settle_wait_ms(self.variant, self.world.contract) / 1000
        yield env.timeout(int(wait_s * US_PER_S))
        self.settled = True
        yield from self._reconcile_backlog()
        self.timeline.note("phase", "settle")
        # At most SETTLE_WINDOW retries in flight: a million keys must not mean a million
        # concurrent processes (memory), and a real client fleet would not send them at once:
        # they come back spread out, here at half the provider's account rate limit, so the
        # retries themselves are not turned away with 429s (swarm, docs/root-causes.md).
        # One user's keys for one order are retried one after the other (the user who paid
        # again with a new key does not retry both at once), so the later key is not refused
        # with the order's 409 while the earlier one is still being decided.
        window: deque[simpy.Event] = deque()
        gap = int(US_PER_S * SETTLE_PACE / self.scenario.topology.stripe_rate_limit)
        order_busy: dict[tuple[str, str], simpy.Event] = {}
        for request in self.clients.first_requests:
            if len(window) >= SETTLE_WINDOW:
                yield window.popleft()
            if gap:
                yield Wait(env, gap)  # env.timeout(gap), as SimPy schedules it
            order = (request.merchant, request.order)
            earlier = order_busy.get(order)
            if earlier is not None and not earlier.processed:
                yield earlier
            wake = simpy.Event(env)  # env.event() without the bound-class lookup
            attempt = self.fleet.send(
                request, fingerprint(request), "settle", self.balancer.pick(), wake
            )
            if attempt is not None:
                window.append(wake)
                order_busy[order] = wake  # only a sent retry is ever answered
                if len(order_busy) > 2 * SETTLE_WINDOW:
                    order_busy = {o: w for o, w in order_busy.items() if not w.processed}
        while window:
            yield window.popleft()

    def _drain(self) -> Generator[Any, Any, None]:
        """Wait until no server holds a request (the stepper's settle drains its flows too).
        Bounded: the design assumes no request lasts an hour."""
        env = self.env
        deadline = env.now + DRAIN_LIMIT_US
        while any(s.inflight for s in self.servers) and env.now < deadline:
            yield env.timeout(DRAIN_POLL_US)
        if any(s.inflight for s in self.servers):
            self.timeline.note("fault", "requests still in flight after an hour of draining")

    def _reconcile_backlog(self) -> Generator[Any, Any, None]:
        """Passes until one resolves nothing and takes less than a full page (at least two,
        at most ``RECONCILE_PASSES_MAX``), RECONCILE_GAP_US apart: a reconciler keeps
        working while its backlog shrinks, so a large backlog is not judged after two."""
        for n in range(RECONCILE_PASSES_MAX):
            report = yield self.env.process(self._reconcile_once())
            progress = report.completed or report.failed or report.examined >= RECONCILE_PAGE
            if n >= 1 and not progress:
                return
            yield self.env.timeout(RECONCILE_GAP_US)

    def _reconciler(self) -> Generator[Any, Any, None]:
        interval = int(self.scenario.topology.reconcile_interval_s * US_PER_S)
        while not self.settled:
            yield self.env.timeout(interval)
            if self.settled:
                return
            yield self.env.process(self._reconcile_once())

    def _reconcile_once(self) -> Generator[Any, Any, ReconcileReport]:
        self.reconcile_runs += 1
        attempt = f"r{self.reconcile_runs:05d}"
        driver: FlowDriver[ReconcileReport] = FlowDriver(
            reconcile_flow(self.variant, limit=RECONCILE_PAGE, provider=self.world.contract)
        )
        yield from self.fleet.drive(driver, attempt, self.job_server)
        assert driver.result is not None  # the job server never crashes
        return driver.result


def simulate(
    scenario: Scenario,
    variant_name: str,
    seed: int,
    *,
    history: History,
    record_effects: bool = True,
    world_factory: Callable[[Variant, ModelClock, History], World] | None = None,
    progress: Callable[[Metrics], None] | None = None,
    provider: str = "stripe",
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
        provider=provider_named(provider),
    )
    started = time.perf_counter()
    sim.run()
    return sim, time.perf_counter() - started
