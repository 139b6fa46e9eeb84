"""What ``payharness swarm`` prints: each hardened violation, then the seed design's break
rates (the swarm's power), then one summary line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from core.checker import PROPERTIES
from sim.swarm import SwarmReport

TRACE_LINES = 60
"""Lines of a violation's trace printed; the whole trace is in its ``.trace.txt`` file."""


def finding_lines(report: SwarmReport) -> Iterator[str]:
    for f in report.findings:
        broken = ", ".join(f.broken)
        what = "CRASH" if "crash" in f.broken else "HARDENED VIOLATION"
        yield f"\n{what} ({broken}, {f.variant}) in generated scenario {f.scenario_seed}"
        yield f"  scenario: {f.file}"
        yield f"  replay:   {f.replay}"
        lines = f.trace.splitlines()
        yield from (f"  {line}" for line in lines[:TRACE_LINES])
        if len(lines) > TRACE_LINES:
            rest = f.file.with_suffix(".trace.txt")
            yield f"  ... {len(lines) - TRACE_LINES} more lines in {rest}"


def power_table(report: SwarmReport) -> str:
    """How often the seed design broke each property: what this swarm can catch."""
    cells = [
        f"{p} {report.seed_broken.get(p, 0)}/{report.seed_runs} ({share:.0%})"
        for p, share in report.power().items()
    ]
    return "seed design broken (the swarm's power): " + ", ".join(cells)


def summary_line(report: SwarmReport, summary: Path) -> str:
    verdict = (
        "hardened held in every scenario, no run crashed"
        if not report.findings
        else f"{len(report.findings)} FINDINGS (hardened violations or crashes)"
    )
    return (
        f"{report.scenarios:,} generated scenarios x {len(PROPERTIES)} properties, "
        f"{report.runs:,} runs in {report.wall_s:.0f} s (master seed {report.master_seed}): "
        f"{verdict}; {summary}"
    )
