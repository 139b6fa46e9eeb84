"""The capacity sweep beyond one machine: for each server count, variant and path, a curve
(``sim.capacity_search``) on a world whose Postgres and Redis are shared capacities, run on
a process pool. Every figure the generated scenarios set, and why, is in ``ASSUMED``; a
calibration file (``Plan.calibration``, the scenario loader's ``[topology] calibration``)
replaces those it measured, and ``figures`` says of each which it is.

A calibration is measured on one machine that runs everything: the servers, the provider mock,
Redis, Postgres and the load generator. A plan is N server machines, one Postgres, Redis
shards, the provider and the clients elsewhere. So a calibrated sweep models each server on a
machine like the one measured (``cores`` = N x the calibration's cores, each server one event
loop of ``server_cores`` as measured) and counts only the servers' own CPU: the other
processes' (``shared_cpu_ms_*``) and the measuring host's other work (``cpu_background``) are
not the gateway's and are set to 0 (``PER_SERVER_MACHINE``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.calibration import CPU_KEYS, Calibration
from sim.calibration import read as read_calibration
from sim.capacity_level import PATHS
from sim.capacity_search import Curve, CurveSpec, sweep_curve
from sim.scenario import Scenario, parse

SERVERS = (4, 8, 16, 32, 64)
VARIANTS = ("seed", "hardened")
SLO_MS = 250.0
"""The p99 objective of ``payharness bench live``: the knee is the most it carries under it."""
NO_PROVIDER_LIMIT = 1_000_000.0
"""The schema's largest provider limit: the live bench's Stripe mock has none."""

ASSUMED: dict[str, tuple[Any, str]] = {
    "stripe_median_ms": (2.0, "the live bench's Stripe mock answers in a few ms (assumption), "
                         "so the simulated curve and live points share axes; real Stripe's "
                         "~400 ms puts every p99 above 250 ms"),
    "stripe_p99_ms": (10.0, "the Stripe mock's tail (assumption)"),
    "postgres_cores": (8, "assumption: one 8-core Postgres server behind every server"),
    "postgres_query_ms": (0.4, "assumption: server time per short indexed statement or commit"),
    "redis_ops_per_s": (100_000.0, "assumption: public redis-benchmark runs, 70k-150k SET/GET/s"),
}  # fmt: skip
"""Topology keys every generated scenario sets, with the reason (shown in the report)."""


@dataclass(frozen=True, slots=True)
class Plan:
    servers: tuple[int, ...] = SERVERS
    variants: tuple[str, ...] = VARIANTS
    paths: tuple[str, ...] = PATHS
    slo_ms: float = SLO_MS
    provider_limit: float = NO_PROVIDER_LIMIT
    redis_shards: int = 1
    calibration: str | None = None
    seed: int = 1
    jobs: int = 2

    def specs(self) -> list[CurveSpec]:
        """Every curve, the costliest first (so the pool does not end on one)."""
        specs = [
            CurveSpec(n, v, p) for n in self.servers for v in self.variants for p in self.paths
        ]
        return sorted(specs, key=lambda s: (-s.servers, s.path, s.variant))


PER_SERVER_MACHINE: dict[str, tuple[float, str]] = {
    "shared_cpu_ms_new": (0.0, "the provider mock's, Redis's, Postgres's and the load "
                          "generator's CPU on the measured machine: elsewhere in a plan "
                          "(Postgres and Redis are the shared capacities above)"),
    "shared_cpu_ms_replay": (0.0, "the same, per replay"),
    "shared_cpu_ms_conflict": (0.0, "the same, per refused request"),
    "cpu_background": (0.0, "other work on the measuring host: a server machine runs only its "
                       "server"),
}  # fmt: skip
"""CPU figures a calibration measured that are not the gateway's on a server machine."""


def calibration_of(plan: Plan) -> Calibration | None:
    """The plan's calibration file, read (the scenario loader validates its figures)."""
    return None if plan.calibration is None else read_calibration(Path(plan.calibration))


def _cpu_calibrated(calibration: Calibration) -> bool:
    return "cores" in calibration.topology and any(
        k in figures for figures in calibration.variants.values() for k in CPU_KEYS
    )


def scenario_for(plan: Plan, servers: int) -> Scenario:
    """The generated scenario of one server count: the assumed figures the calibration does
    not replace, and with a CPU calibration each server on a machine of its own."""
    calibration = calibration_of(plan)
    measured = set(calibration.topology) if calibration else set()
    topology: dict[str, Any] = {k: v for k, (v, _why) in ASSUMED.items() if k not in measured}
    topology |= {
        "servers": servers,
        "stripe_rate_limit": plan.provider_limit,
        "redis_shards": plan.redis_shards,
    }
    if calibration is not None and plan.calibration is not None:
        topology["calibration"] = str(Path(plan.calibration).resolve())
        if _cpu_calibrated(calibration):
            topology["cores"] = servers * int(calibration.topology["cores"].value)
            topology |= {k: v for k, (v, _why) in PER_SERVER_MACHINE.items()}
    raw = {
        "description": f"capacity sweep, {servers} servers (generated by payharness capacity)",
        "seed": plan.seed,
        "topology": topology,
        "expect": {"seed": {}, "hardened": {}},
    }
    return parse(raw, f"capacity-{servers}")


@dataclass(frozen=True, slots=True)
class FigureRow:
    key: str
    value: str
    status: str
    """calibrated, assumed, planner (a flag of the command), or per server machine."""
    why: str


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def figures(plan: Plan) -> list[FigureRow]:
    """Every figure the generated scenarios set or take from the calibration, marked
    calibrated or assumed, with its source (the report's table)."""
    calibration = calibration_of(plan)
    servers = plan.servers[0]
    topo = scenario_for(plan, servers).topology
    rows: list[FigureRow] = []
    if calibration is not None:
        cpu = _cpu_calibrated(calibration)
        machine = "per server machine"
        tables = [("", calibration.topology)]
        tables += [(f" ({v})", t) for v, t in calibration.variants.items()]
        for suffix, table in tables:
            for k, f in table.items():
                was = f"calibrated {_num(f.value)}"
                if k == "cores" and cpu:
                    per = f"{_num(f.value)} per server"
                    rows.append(FigureRow(k, per, machine, f"{was}: {f.source}"))
                elif k in PER_SERVER_MACHINE and cpu:
                    zero, why = PER_SERVER_MACHINE[k]
                    rows.append(FigureRow(k + suffix, _num(zero), machine, f"{was}; {why}"))
                else:
                    rows.append(FigureRow(k + suffix, _num(f.value), "calibrated", f.source))
    measured = set(calibration.topology) if calibration else set()
    rows += [
        FigureRow(k, _num(v), "assumed", why)
        for k, (v, why) in ASSUMED.items()
        if k not in measured
    ]
    rows.append(FigureRow("redis_shards", str(plan.redis_shards), "planner",
                          "--redis-shards: Redis Cluster primaries"))  # fmt: skip
    rows.append(FigureRow("stripe_rate_limit", _num(plan.provider_limit), "planner",
                          "--provider-limit (default: none, as the mock)"))  # fmt: skip
    for k in ("workers", "pg_pool", "server_cores", "postgres_median_ms", "redis_median_ms"):
        if k not in measured:
            rows.append(FigureRow(k, _num(getattr(topo, k)), "assumed",
                                  "the scenario default (docs/scenarios.md)"))  # fmt: skip
    return rows


def run_curve(plan: Plan, spec: CurveSpec) -> Curve:
    """One curve, importable by a worker process."""
    return sweep_curve(scenario_for(plan, spec.servers), spec, plan.slo_ms, plan.seed)


def run_plan(plan: Plan, progress: Callable[[Curve], None] | None = None) -> list[Curve]:
    """Every curve of the plan, in the plan's order, ``plan.jobs`` at a time."""
    specs = plan.specs()
    done: dict[CurveSpec, Curve] = {}
    if plan.jobs <= 1:
        for spec in specs:
            done[spec] = run_curve(plan, spec)
            if progress:
                progress(done[spec])
    else:
        with ProcessPoolExecutor(max_workers=plan.jobs) as pool:
            futures = {pool.submit(run_curve, plan, spec): spec for spec in specs}
            for future in as_completed(futures):
                curve = future.result()
                done[futures[future]] = curve
                if progress:
                    progress(curve)
    return [done[s] for s in sorted(specs, key=_order(plan))]


def _order(plan: Plan) -> Callable[[CurveSpec], tuple[int, int, int]]:
    def key(s: CurveSpec) -> tuple[int, int, int]:
        return (s.servers, plan.variants.index(s.variant), plan.paths.index(s.path))

    return key


def servers_list(text: str) -> tuple[int, ...]:
    """``4,8,16`` as server counts; ValueError with the reason otherwise."""
    values = tuple(int(v) for v in text.split(",") if v.strip())
    if not values or any(v < 1 or v > 1000 for v in values):
        raise ValueError("server counts from 1 to 1000, comma-separated")
    return tuple(sorted(set(values)))


def as_rows(curves: Sequence[Curve]) -> list[dict[str, Any]]:
    """Every level of every curve, one flat dict each (the JSON and CSV the report saves)."""
    rows = []
    for c in curves:
        k = c.knee
        for lv in c.levels:
            rows.append(
                {
                    "servers": c.spec.servers,
                    "variant": c.spec.variant,
                    "path": c.spec.path,
                    "offered_per_s": lv.rate,
                    "achieved_per_s": lv.achieved,
                    "p50_ms": lv.p50_ms,
                    "p99_ms": lv.p99_ms,
                    "sent": lv.sent,
                    "errors": lv.errors,
                    "held": lv.held,
                    "knee": lv is k,
                    **{f"util {r}": u for r, u in lv.utilisation.items()},
                }
            )
    return rows
