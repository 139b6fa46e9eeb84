"""``payharness capacity``: the capacity report beyond one machine, a simulator prediction
per server count and variant, with live points beside it when a live run is given."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from live.paths import output_root
from payharness.usage import UsageError, int_in, number_in, out_dir

if TYPE_CHECKING:
    from reports.capacity.live import LivePoint


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "capacity",
        help="predict the knee and bottleneck for 4-64 servers in the simulator; report",
        description="For each server count and both variants, sweep offered load in the "
        "simulator (new payments and replays), find the knee (most payments/s at p99 under "
        "the SLO) and the busiest resource there; write capacity.md/.html and PNG plots.",
    )
    p.add_argument("--servers", default="4,8,16,32,64", metavar="N,N,...")
    p.add_argument("--calibration", type=Path, default=None, metavar="FILE",
                   help="a calibration file (payharness calibrate, bench predict): its "
                   "figures in the scenarios, a server per machine as measured")  # fmt: skip
    p.add_argument("--live", type=Path, default=None, metavar="RUN_DIR",
                   help="a bench live or load run folder: its points on the same axes")  # fmt: skip
    p.add_argument("--out", type=Path, default=None, help="default out/capacity")
    p.add_argument(
        "--provider-limit", type=number_in(0.001), default=None, metavar="OPS",
        help="provider operations/s (default: none, as the mock)",
    )  # fmt: skip
    p.add_argument("--redis-shards", type=int_in(1, 1000), default=1)
    p.add_argument("--slo-ms", type=number_in(0, above=True), default=250.0)
    p.add_argument("--paths", default="new,replay", metavar="new,replay")
    p.add_argument("--jobs", type=int_in(1), default=2, help="worker processes")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from sim.calibration import CalibrationError
    from sim.capacity_level import PATHS
    from sim.capacity_plan import NO_PROVIDER_LIMIT, Plan, run_plan, scenario_for, servers_list
    from sim.scenario import ScenarioError

    try:
        servers = servers_list(args.servers)
    except ValueError as exc:
        raise UsageError(f"--servers {args.servers}: {exc}") from None
    paths = tuple(p.strip() for p in args.paths.split(",") if p.strip())
    if not paths or any(p not in PATHS for p in paths):
        raise UsageError(f"--paths {args.paths}: allowed: new, replay (comma-separated)")
    if args.calibration is not None and not args.calibration.is_file():
        raise UsageError(f"--calibration {args.calibration}: no such file")
    if args.provider_limit is not None and args.provider_limit > NO_PROVIDER_LIMIT:
        raise UsageError(f"--provider-limit: allowed: up to {NO_PROVIDER_LIMIT:,.0f}")
    live = _live(args.live)
    servers = tuple(sorted(set(servers) | {p.servers for p in live}))
    out = out_dir(args.out or output_root() / "capacity")
    plan = Plan(
        servers=servers,
        paths=paths,
        slo_ms=args.slo_ms,
        provider_limit=args.provider_limit or NO_PROVIDER_LIMIT,
        redis_shards=args.redis_shards,
        calibration=None if args.calibration is None else str(args.calibration),
        jobs=args.jobs,
    )
    try:
        scenario_for(plan, servers[0])  # the calibration file, read and validated once here
    except (CalibrationError, ScenarioError) as exc:
        raise UsageError(f"--calibration {args.calibration}: {exc}") from None
    bar = tqdm(total=len(plan.specs()), desc="capacity", unit="curve", file=sys.stderr)
    started = time.perf_counter()
    try:
        curves = run_plan(plan, lambda _curve: bar.update())
    finally:
        bar.close()
    wall = time.perf_counter() - started
    from reports.capacity.live import bench_costs
    from reports.capacity.render import label, write_report

    written = write_report(out, plan, curves, live, wall, bench_costs(args.live))
    print(label(plan))
    for c in curves:
        k = c.knee
        found = f"{k.achieved:9,.0f}/s  p99 {k.p99_ms:6.1f} ms  {k.bottleneck}" if k else "none"
        print(f"{c.spec.servers:4d} servers  {c.spec.variant:8s} {c.spec.path:6s}  knee {found}")
    print(f"{len(curves)} curves in {wall:.0f} s; report: {written.markdown}, {written.html}")
    return 0


def _live(run_dir: Path | None) -> list[LivePoint]:
    if run_dir is None:
        return []
    from reports.capacity.live import LiveRunError, live_points

    try:
        return live_points(run_dir)
    except LiveRunError as exc:
        raise UsageError(f"--live {exc}") from None
