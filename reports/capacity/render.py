"""The capacity report: Markdown, a self-contained HTML page, PNG figures, and the levels as
CSV and JSON. Everything it says is a prediction of the simulator under the figures it
lists; live points, when given, are the only measurements on it."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from reports.capacity.live import LivePoint
from reports.capacity.plots import plot_curves, plot_knees, plot_replay
from reports.load.render import Report
from sim.capacity_plan import ASSUMED, Plan, as_rows, calibration_of
from sim.capacity_plan import figures as plan_figures
from sim.capacity_search import PILOT_RATE, Curve
from sim.scenario import Topology, schema


@dataclass(frozen=True, slots=True)
class Written:
    markdown: Path
    html: Path
    figures: tuple[Path, ...]


def label(plan: Plan) -> str:
    """The words every page and figure carries."""
    calibration = calibration_of(plan)
    if calibration is None:
        source = "none, assumed figures"
    else:
        made = calibration.made[:10] or "undated"
        source = f"{Path(calibration.run).parent.name or calibration.run}, {made}"
    return f"PREDICTION (simulator, calibration: {source})"


def _calibration_lines(plan: Plan, copied: Path | None) -> list[str]:
    """Which calibration, from which run and when, and what a server is in this plan."""
    calibration = calibration_of(plan)
    if calibration is None:
        return ["No calibration: every figure is assumed (the table below)."]
    lines = [
        f"Calibration file: `{plan.calibration}`"
        + (f" (copied beside this report as `{copied.name}`)" if copied else "")
        + f"; fitted from the run `{calibration.run}` on {calibration.made or 'an unknown date'}."
    ]
    if any("cpu_ms_new" in t for t in calibration.variants.values()):
        cores = calibration.topology.get("cores")
        lines.append(
            "Each server is modelled on a machine of its own like the one measured "
            f"({cores.value if cores else '?'} cores, so N servers have N x that many), one "
            "server process each, one event loop on one core at a time (server_cores, as "
            "measured: uvicorn, one process per server). Only the servers' own CPU per request "
            "(cpu_ms_*) is counted: the provider mock's, Redis's, Postgres's and the load "
            "generator's CPU on the measured machine (shared_cpu_ms_*) and the measuring "
            "host's other work (cpu_background) are not the gateway's and are set to 0; "
            "Postgres and Redis are the shared capacities (one Postgres server, Redis "
            "shards) whose service times are still assumed."
        )
    return lines


def _pct(u: float) -> str:
    return f"{100 * u:.0f} %"


def _knee_rows(curves: Sequence[Curve]) -> list[list[object]]:
    rows: list[list[object]] = []
    for c in curves:
        k = c.knee
        busiest = sorted(k.utilisation.items(), key=lambda kv: -kv[1])[:3] if k else []
        rows.append(
            [
                c.spec.servers,
                c.spec.variant,
                c.spec.path,
                f"{k.achieved:,.0f}" if k else "none held",
                f"{k.p99_ms:,.1f}" if k else "-",
                k.bottleneck if k else "-",
                ", ".join(f"{r} {_pct(u)}" for r, u in busiest),
                f"{c.paper_bound:,.0f}" if math.isfinite(c.paper_bound) else "-",
                c.paper_bottleneck,
            ]
        )
    return rows


def _moves(curves: Sequence[Curve]) -> list[str]:
    """One sentence per variant and path: the bottleneck at each server count."""
    out = []
    for path in ("new", "replay"):
        for variant in sorted({c.spec.variant for c in curves}, reverse=True):
            mine = sorted(
                (c for c in curves if c.spec.path == path and c.spec.variant == variant),
                key=lambda c: c.spec.servers,
            )
            steps = [
                f"{c.spec.servers}: {c.knee.bottleneck} ({c.knee.achieved:,.0f}/s)"
                for c in mine
                if c.knee is not None
            ]
            if steps:
                out.append(f"{variant}, {path}: " + "; ".join(steps) + ".")
    return out


def _costs_rows(
    plan: Plan, curves: Sequence[Curve], costs: dict[str, dict[str, float]]
) -> list[list[object]]:
    """Per variant: a new payment's Postgres and Redis work in the simulation (the pilot's
    queries times the service time) beside what the live bench measured."""
    query_ms = float(ASSUMED["postgres_query_ms"][0])
    redis_ms = 1000.0 / float(ASSUMED["redis_ops_per_s"][0])
    rows: list[list[object]] = []
    for variant, cost in costs.items():
        pilot = next(
            (c.levels[0] for c in curves if c.spec.variant == variant and c.spec.path == "new"),
            None,
        )
        if pilot is None:
            continue
        pg = pilot.per_payment.get("postgres_queries", float("nan"))
        rd = pilot.per_payment.get("redis_ops", float("nan"))
        rows.append(
            [
                variant,
                f"{pg:.1f} x {query_ms:g} = {pg * query_ms:.2f}",
                f"{cost.get('postgres round trips', float('nan')):.1f} trips, "
                f"{cost.get('postgres CPU ms', float('nan')):.2f} ms",
                f"{rd:.1f} x {redis_ms:g} = {rd * redis_ms:.2f}",
                f"{cost.get('redis round trips', float('nan')):.1f} trips, "
                f"{cost.get('redis CPU ms', float('nan')):.2f} ms",
                (
                    f"sim {pilot.per_payment['server_cpu_ms']:.2f} ms; "
                    if "server_cpu_ms" in pilot.per_payment
                    else "not modelled; "
                )
                + f"live {cost.get('servers CPU ms', float('nan')):.2f} ms",
            ]
        )
    return rows


def write_report(
    out: Path,
    plan: Plan,
    curves: Sequence[Curve],
    live: Sequence[LivePoint],
    wall_s: float,
    costs: dict[str, dict[str, float]] | None = None,
) -> Written:
    out.mkdir(parents=True, exist_ok=True)
    tag = label(plan)
    copied = None
    if plan.calibration is not None:
        copied = out / "calibration.toml"
        if Path(plan.calibration).resolve() != copied.resolve():
            shutil.copyfile(plan.calibration, copied)
    rows = as_rows(curves)
    pd.DataFrame(rows).to_csv(out / "levels.csv", index=False)
    (out / "capacity.json").write_text(
        json.dumps({"label": tag, "levels": rows, "live": [asdict(p) for p in live]}, indent=1,
                   default=str),
        encoding="utf-8",
    )  # fmt: skip
    figures = (
        plot_curves(curves, live, plan.slo_ms, tag, out / "curves.png"),
        plot_knees(curves, tag, out / "knees.png"),
        plot_replay(curves, plan.slo_ms, tag, out / "replay.png"),
    )
    rep = Report(f"Capacity beyond one machine: {tag}")
    rep.p(
        f"**{tag}.** Every figure below is the simulator's prediction under the figures listed "
        "under Figures (each marked calibrated, assumed, or the planner's choice), not a "
        "measurement; only points marked live were measured. The "
        f"knee is the highest answered payments/s whose p99 stays under {plan.slo_ms:.0f} ms "
        "(open-loop Poisson arrivals, one attempt each, errors at most 1 %, at least 90 % of "
        "the offered load answered). The bottleneck is the resource that limits the knee: a "
        "shared one (Postgres, Redis, the provider's limit) at 93 % or more, else the servers' "
        "CPU (their event loops, when calibrated) at 93 % or more, else the busiest of a "
        "server's CPU, workers and DB pool (workers and connections count as busy while they "
        "wait for a shared one or the loop). The paper bound is each resource's capacity "
        "over what the pilot level "
        f"({PILOT_RATE:.0f} payments/s) measured one payment to ask of it; it leaves "
        "queueing out, so a knee limited by the workers, whose time grows with every queue "
        "they wait in, or by a CPU loop near saturation, falls below it."
    )
    for line in _calibration_lines(plan, copied):
        rep.p(line)
    rep.h("Where the bottleneck moves")
    for line in _moves(curves):
        rep.p(line)
    rep.figure("curves", figures[0])
    rep.figure("knees", figures[1])
    rep.figure("replay", figures[2])
    rep.h("Knees")
    rep.table(
        ["servers", "variant", "path", "knee payments/s", "p99 ms", "bottleneck",
         "busiest at the knee", "paper bound /s", "paper bottleneck"],
        _knee_rows(curves),
    )  # fmt: skip
    rep.h("Figures: calibrated or assumed")
    rep.table(
        ["scenario key", "value", "calibrated or assumed", "source or why"],
        [
            [f.key, f.value, f.status, _limit_note(plan.provider_limit) if
             f.key == "stripe_rate_limit" else f.why]
            for f in plan_figures(plan)
        ],
    )  # fmt: skip
    cost_rows = _costs_rows(plan, curves, costs or {})
    if cost_rows:
        rep.h("One new payment: simulated work beside the live bench")
        rep.p(
            "Simulated: the pilot level's queries per payment times the service time (ms). "
            "Live: round trips and CPU ms per payment that payharness bench live measured (a "
            "shared machine: its CPU figures, not the simulator's, say what a server costs)."
        )
        rep.table(
            ["variant", "Postgres, sim ms", "Postgres, live", "Redis, sim ms", "Redis, live",
             "server CPU per payment"],
            cost_rows,
        )  # fmt: skip
    rep.h("Not modelled")
    for note in _not_modelled(plan):
        rep.p(note)
    if live:
        sources = sorted({p.source for p in live})
        rep.p(f"Live points: {len(live)} from {', '.join(sources)} (hollow diamonds).")
    rep.p(f"{sum(len(c.levels) for c in curves)} simulated levels in {wall_s:.0f} s.")
    md = out / "capacity.md"
    md.write_text(rep.markdown(), encoding="utf-8")
    html = out / "capacity.html"
    html.write_text(rep.html(), encoding="utf-8")
    return Written(md, html, figures)


def _limit_note(limit: float) -> str:
    if limit >= 1_000_000:
        return (
            "--provider-limit: none (the live bench's mock has none); Stripe's default live-mode "
            "limit, 100 operations/s, would cap every configuration here at 100 payments/s"
        )
    return "--provider-limit: operations/s at the provider"


def _not_modelled(plan: Plan) -> list[str]:
    biggest = max(plan.servers)
    workers = schema(Topology)["workers"][1].default
    calibration = calibration_of(plan)
    pool_figure = calibration.topology.get("pg_pool") if calibration else None
    pool = int(pool_figure.value) if pool_figure else schema(Topology)["pg_pool"][1].default
    cpu = calibration is not None and any("cpu_ms_new" in t for t in calibration.variants.values())
    cpu_note = (
        "Server CPU: modelled from the calibration (sim/cpu.py), one event loop per server; "
        "Postgres's and Redis's own CPU is their assumed service time, not a measurement."
        if cpu
        else f"Server CPU: a server is limited by its {workers} workers only (no calibration "
        "with CPU figures: --calibration FILE models it); payharness bench live measured "
        "4.4-4.9 ms of server CPU per hardened payment (docs/benchmarks.md), about 200 "
        "payments/s per core, so the server-bound knees here are optimistic by an order of "
        "magnitude."
    )
    return [
        cpu_note,
        f"Connections: {biggest} servers x {pool} pooled connections = {biggest * pool} Postgres "
        "connections, above Postgres's default max_connections of 100: a pooler (PgBouncer) "
        "is assumed in front of it.",
        "Redis Cluster: keys spread evenly over the shards (random keys); a hot key is not "
        "modelled.",
    ]
