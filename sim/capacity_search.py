"""One capacity curve: a server count, a variant and a path, swept in offered load.

A pilot level at a low rate measures what one payment asks of each resource; dividing each
resource's capacity by that gives the load it allows **on paper**, and the lowest of them
the paper bound. The simulator then searches around that bound for the knee (the highest
throughput with p99 under the SLO, ``sim.knee``); the busiest resource at the knee is the
bottleneck."""

from __future__ import annotations

from dataclasses import dataclass, field

from sim import knee
from sim.capacity_level import Level, run_level
from sim.scenario import Scenario

PILOT_RATE = 200.0
"""Payments/s of the pilot level: far below any knee, so its demands are unqueued."""
START, GROWTH, LIMIT, BISECT = 0.75, 1.3, 2.5, 3
"""The search starts at START x the paper bound, grows by GROWTH while levels hold (up to
LIMIT x the bound), then bisects at most BISECT times (to within 5 %)."""


@dataclass(frozen=True, slots=True)
class CurveSpec:
    servers: int
    variant: str
    path: str


@dataclass(slots=True)
class Curve:
    spec: CurveSpec
    levels: list[Level] = field(default_factory=list)
    paper: dict[str, float] = field(default_factory=dict)
    """Payments/s each resource allows on paper (its capacity over the pilot's demand)."""

    @property
    def knee(self) -> Level | None:
        return knee.knee(self.levels)

    @property
    def paper_bound(self) -> float:
        return min(self.paper.values()) if self.paper else float("inf")

    @property
    def paper_bottleneck(self) -> str:
        return min(self.paper, key=lambda r: self.paper[r]) if self.paper else ""


def paper_bounds(scenario: Scenario, pilot: Level, variant: str) -> dict[str, float]:
    """Payments/s per resource: what it serves per second over what a payment asks of it.
    A resource a payment does not use allows any load and is left out."""
    topo, use = scenario.topology_for(variant), pilot.per_payment
    capacity = {
        "server CPU": (
            topo.servers * topo.server_cores * 1000.0,
            use.get("server_cpu_ms", 0.0),
        ),
        "server workers": (topo.servers * topo.workers * 1000.0, use.get("worker_ms", 0.0)),
        "server DB pool": (topo.servers * topo.pg_pool * 1000.0, use.get("pool_ms", 0.0)),
        "provider rate limit": (topo.stripe_rate_limit, use.get("provider_calls", 0.0)),
    }
    if topo.postgres_cores:
        per_s = topo.postgres_cores * 1000.0 / topo.postgres_query_ms
        capacity["Postgres"] = (per_s, use.get("postgres_queries", 0.0))
    if topo.redis_shards:
        capacity["Redis (busiest shard)"] = (
            topo.redis_shards * topo.redis_ops_per_s,
            use.get("redis_ops", 0.0),
        )
    return {r: cap / need for r, (cap, need) in capacity.items() if need > 0}


def sweep_curve(scenario: Scenario, spec: CurveSpec, slo_ms: float, seed: int) -> Curve:
    """The pilot, then levels around the paper bound until the knee is found."""
    curve = Curve(spec)
    pilot = run_level(scenario, spec.variant, spec.path, PILOT_RATE, slo_ms, seed)
    curve.levels.append(pilot)
    curve.paper = paper_bounds(scenario, pilot, spec.variant)
    bound = curve.paper_bound
    if not pilot.held or bound == float("inf"):
        return curve
    rate: float | None = max(PILOT_RATE * 2, START * bound)
    searched: list[Level] = [pilot]
    while rate is not None:
        level = run_level(scenario, spec.variant, spec.path, rate, slo_ms, seed)
        searched.append(level)
        rate = knee.next_rate(searched, growth=GROWTH, max_rate=LIMIT * bound, bisect=BISECT)
    curve.levels = sorted(searched, key=lambda lv: lv.rate)
    return curve
