"""``payharness sweep``: a grid of one scenario's parameters over a process pool or a Dask
cluster, with heatmaps of violation rate and p99 latency per cell."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from tqdm import tqdm

from core.variants import VARIANTS
from live.paths import output_root
from payharness.usage import UsageError, int_in, out_dir, scenario_problem
from sim.scenario import ScenarioError, find
from sim.sweep import ALIASES, SweepError, check_grid, parse_param, run_sweep


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    aliases = "; ".join(f"{k} ({doc})" for k, (_key, _conv, doc) in sorted(ALIASES.items()))
    p = sub.add_parser(
        "sweep",
        help="run a scenario over a parameter grid; heatmaps of violation rate and p99",
        description="Parameters: " + aliases + "; or any dotted scenario key such as "
        "topology.servers or variant.lock_ttl_ms.",
    )
    p.add_argument(
        "scenario",
        metavar="SCENARIO",
        help="a name in scenarios/ (with or without .toml) or a path",
    )
    p.add_argument(
        "--param", action="append", required=True, metavar="NAME=V1,V2,...", help="repeatable"
    )
    p.add_argument("--variant", default="seed", choices=sorted(VARIANTS))
    p.add_argument("--seed", type=int_in(0), default=None)
    p.add_argument("--jobs", type=int_in(1), default=None, help="worker processes (default: CPUs)")
    p.add_argument("--dask", metavar="ADDRESS", default=None, help="run cells on this cluster")
    p.add_argument("--out", type=Path, default=None, help="default out/sweep/<scenario>")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    try:
        scenario = find(args.scenario)
    except ScenarioError as exc:
        raise UsageError(scenario_problem(exc)) from None
    try:
        axes = [parse_param(spec) for spec in args.param]
        check_grid(scenario, axes)
    except SweepError as exc:
        raise UsageError(str(exc)) from None
    names = [a.name for a in axes]
    total = 1
    for a in axes:
        total *= len(a.values)
    out = out_dir(args.out or output_root() / "sweep" / scenario.name)
    bar = tqdm(total=total, desc=f"sweep {scenario.name}", unit="cell", file=sys.stderr)
    started = time.perf_counter()
    try:
        results = run_sweep(
            scenario.file,
            args.variant,
            args.seed,
            axes,
            jobs=args.jobs or os.cpu_count() or 1,
            dask_address=args.dask,
            progress=bar.update,
        )
    finally:
        bar.close()
    wall = time.perf_counter() - started
    from reports.sim.sweep import sweep_frame, write_sweep_report

    frame = sweep_frame(results, names)
    print(frame.to_string(index=False))
    title = f"sweep of {scenario.name} ({args.variant})"
    md, html = write_sweep_report(out, frame, names, title)
    errors = [r for r in results if r.get("error")]
    for r in errors:
        print(f"cell {r['cell']}: {r['error']}", file=sys.stderr)
    where = f"Dask at {args.dask}" if args.dask else "a process pool"
    print(f"{total} cells on {where} in {wall:.1f} s; report: {md}, {html}")
    return 1 if errors else 0
