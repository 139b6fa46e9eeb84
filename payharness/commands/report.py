"""``payharness report RUN_DIR``: rebuild a load run's report from the files in its folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from payharness.usage import UsageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("report", help="rebuild the report of a load run folder")
    p.add_argument("run_dir", type=Path, help="e.g. out/load/<run id>")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    run_dir: Path = args.run_dir
    if not (run_dir / "settings.json").exists():
        raise UsageError(f"{run_dir} is not a load run folder (no settings.json)")
    from loadtests.history import MERGED, merge_histories
    from reports.load import build_report

    if not (run_dir / MERGED).exists():
        merge_histories(run_dir)
    out = build_report(run_dir)
    print(f"report: {out}")
    print(f"        {run_dir / 'report.md'}")
    return 0
