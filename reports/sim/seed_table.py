"""The terminal verdict of a seed swarm: a compact matrix, then one line per broken property.

The matrix fits a terminal (a cell is how many seeds broke the property); the lines under it
say each count in words (``breaks 37/100 (first: seed 3)``), whether the scenario claimed it,
and for a refuted claim the one command that replays it.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.checker import PROPERTIES
from sim.seed_swarm import Tally

LEGEND = (
    "legend: a cell is the number of seeds under which the property broke ('ok': none); "
    "* marks a claim the seeds refuted. hold = holds under every seed run; break = breaks "
    "under at least one (and at least break_rate of them when the scenario sets it)."
)


def _cell(tally: Tally, prop: str) -> str:
    n = tally.broken.get(prop, 0)
    refuted = (prop in tally.expectation.hold and n > 0) or any(
        problem.startswith(f"{prop} expected to break") for problem in tally.unmet()
    )
    text = "ok" if n == 0 else str(n)
    return text + ("*" if refuted else "")


def seed_table(tallies: Sequence[Tally]) -> str:
    header = ["scenario", "variant", "provider", "seeds", *PROPERTIES, "claims"]
    rows = [header]
    for t in tallies:
        rows.append(
            [
                t.scenario.name,
                t.variant,
                t.provider,
                str(t.runs),
                *(_cell(t, p) for p in PROPERTIES),
                "met" if t.met else "NOT MET",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def broken_lines(tallies: Sequence[Tally]) -> list[str]:
    """``scenario/variant P: breaks n/N (first: seed s) [claim]`` for every broken property."""
    lines = []
    for t in tallies:
        for prop in PROPERTIES:
            if prop not in t.broken:
                continue
            if prop in t.expectation.hold:
                claim = "NOT EXPECTED: claimed to hold"
            elif prop in t.expectation.broken:
                claim = "expected"
            else:
                claim = "not claimed"
            where = f"{t.scenario.name}/{t.variant}/{t.provider}"
            lines.append(f"{where} {prop}: {t.cell(prop)} [{claim}]")
    return lines


def refutation_lines(tallies: Sequence[Tally]) -> list[str]:
    """Every refuted claim, with the first violation's message and the replay command."""
    lines = []
    for t in tallies:
        for problem, replay in t.refutations():
            lines.append(f"{t.scenario.name}/{t.variant}/{t.provider}: {problem}")
            if replay:
                lines.append(f"  replay: {replay}")
    return lines


def summary_line(tallies: Sequence[Tally]) -> str:
    met = sum(1 for t in tallies if t.met)
    runs = sum(t.runs for t in tallies)
    return (
        f"{met}/{len(tallies)} scenario x variant x provider claims held over {runs:,} runs "
        f"({'all met' if met == len(tallies) else 'NOT all met'})"
    )
