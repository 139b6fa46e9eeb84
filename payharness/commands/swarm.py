"""``payharness swarm``: random scenarios x both variants for a time budget; every hardened
violation saved with its trace and replay command, and the seed design's break rates.

Exit status 0 exactly when no hardened violation was found, 1 otherwise, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

from live.paths import output_root
from payharness.usage import int_in, out_dir


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of minutes") from None
    if not 0 < value <= 24 * 60:
        raise argparse.ArgumentTypeError(f"{text!r}: allowed: more than 0, at most 1440")
    return value


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "swarm",
        help="random scenarios from the fault catalogue x both variants, for a time budget",
        description="Generate random scenarios (fault kinds, rates, timings, client mixes, "
        "servers, merchants, keys) from a master seed and run seed and hardened on each until "
        "the budget is spent. Every hardened violation is saved as a scenario file with its "
        "minimal trace and the command that replays it. Exit 0 exactly when hardened held "
        "everywhere.",
    )
    p.add_argument("--minutes", type=_minutes, required=True, help="time budget (wall clock)")
    p.add_argument(
        "--seed", type=int_in(0), default=None, help="master seed (default: a fresh one, printed)"
    )
    p.add_argument("--out", type=Path, default=None, help="folder (default out/swarm/<seed>)")
    p.add_argument("--jobs", type=int_in(1), default=None, help="worker processes (default: CPUs)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from reports.sim.swarm_text import finding_lines, power_table, summary_line
    from sim.swarm import swarm

    master = args.seed if args.seed is not None else secrets.randbelow(2**31)
    out = out_dir(args.out if args.out is not None else output_root() / "swarm" / str(master))
    jobs = args.jobs or os.cpu_count() or 1
    print(
        f"swarm: master seed {master}, {args.minutes:g} min on {jobs} processes "
        f"(replay this swarm: payharness swarm --minutes {args.minutes:g} --seed {master})",
        flush=True,
    )

    def show(report: object) -> None:
        from sim.swarm import SwarmReport

        assert isinstance(report, SwarmReport)
        print(
            f"\r  {report.scenarios:,} scenarios, {report.runs:,} runs, "
            f"{len(report.findings)} hardened violations",
            end="",
            file=sys.stderr,
            flush=True,
        )

    report = swarm(args.minutes, out, master, jobs=jobs, progress=show)
    print(file=sys.stderr)
    import json

    (out / "swarm.json").write_text(json.dumps(report.to_dict(), indent=2, sort_keys=True) + "\n")
    for line in finding_lines(report):
        print(line)
    print(power_table(report))
    print(summary_line(report, out / "swarm.json"))
    return 1 if report.findings else 0
