"""``payharness calibrate RUN_DIR``: fit the simulator's figures to a live run's folder
(``loadtests.calibrate``), write the calibration file, print what each path costs."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

from payharness.usage import UsageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "calibrate",
        help="fit the simulator's latencies, CPU per path and pools to a live run's folder",
        description="Fit what the simulator assumes (component latencies, the servers' CPU "
        "per path, pools, cores) to a live run folder (bench predict's calibrate/ folder, or "
        "a load run with metrics.prom) and write a calibration file that a scenario names "
        'with [topology] calibration = "FILE". Every figure carries its source.',
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="the calibration file (default RUN_DIR/calibration.toml)",
    )
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("loadtests") is None:
        raise UsageError("not available here (loadtests is not installed)")
    from loadtests.bench.phases import RUN_FILE
    from loadtests.bench.results import path_floors
    from loadtests.calibrate import CALIBRATION_FILE, CalibrateError, fit, path_costs
    from reports.bench.paths import render_paths
    from sim.calibration import write

    try:
        calibration, notes = fit(args.run_dir)
    except CalibrateError as exc:
        raise UsageError(str(exc)) from None
    out = args.out or args.run_dir / CALIBRATION_FILE
    try:
        write(out, calibration, f"payharness calibrate {args.run_dir}")
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write it ({exc.strerror or exc})") from None
    figures = {**calibration.topology}
    for variant, own in calibration.variants.items():
        figures.update({f"{variant}.{k}": f for k, f in own.items()})
    for name, figure in figures.items():
        print(f"  {name} = {figure.value}")
    for note in notes:
        print(f"  not fitted: {note}")
    run_file = args.run_dir / RUN_FILE
    if run_file.exists():
        costs = path_costs(json.loads(run_file.read_text(encoding="utf-8")))
        variants = sorted({c["endpoint"] for c in costs} - {"bare"})
        print()
        print(render_paths(costs, {v: path_floors(v) for v in variants}), end="")
    print(f"calibration: {out}")
    return 0
