"""The terminal verdict of ``payharness run``: a table that explains itself.

Each property cell says what happened *and* whether the scenario expected it: ``BROKEN(exp)``
is a break the scenario claims (the seed design's known flaw), ``BROKEN`` where the scenario
claims the property holds is a failure, ``ok*`` is a claimed break that did not happen. A
legend under the table names every mark and property, and one line sums the runs up.
Works on run summaries (the dicts in ``summary.json``), so it renders a saved run too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.checker import PROPERTIES, TITLES
from reports.sim.numbers import number

EXPECTED_BREAK = "BROKEN(exp)"
UNEXPECTED_BREAK = "BROKEN"
UNCLAIMED_BREAK = "broken"
HOLDS = "ok"
REFUTED_BREAK = "ok*"
NOT_CHECKED = "-"
MET = "met"
NOT_MET = "NOT MET"

MARKS = (
    (HOLDS, "the property holds"),
    (EXPECTED_BREAK, "broken, as the scenario expects ([expect] break)"),
    (UNEXPECTED_BREAK, "broken although the scenario claims it holds: a failure"),
    (UNCLAIMED_BREAK, "broken; the scenario claims nothing about it (reported, not judged)"),
    (REFUTED_BREAK, "holds although the scenario expects it to break: a failure"),
    (NOT_CHECKED, "not checked in this run"),
)


def cell(summary: Mapping[str, Any], prop: str) -> str:
    """One property's mark for one run, from its verdict and the scenario's claims."""
    status = summary["properties"].get(prop)
    claims = summary.get("expectation", {})
    claimed_break = prop in claims.get("break", ())
    claimed_hold = prop in claims.get("hold", ())
    if status == "holds":
        return REFUTED_BREAK if claimed_break else HOLDS
    if status == "BROKEN":
        if claimed_break:
            return EXPECTED_BREAK
        return UNEXPECTED_BREAK if claimed_hold else UNCLAIMED_BREAK
    return NOT_CHECKED


HEADER = ("scenario", "variant", "provider", "requests", "charges", *PROPERTIES, "p50 ms",
          "p99 ms", "paid/s", "verdict")  # fmt: skip


def verdict_row(s: Mapping[str, Any]) -> list[str]:
    """One run's cells, in ``HEADER``'s order: the terminal's, the HTML's and the Markdown's."""
    return [
        str(s["scenario"]),
        str(s["variant"]),
        str(s.get("provider", "stripe")),
        str(s["requests"]),
        str(s["provider_charges"]),
        *(cell(s, p) for p in PROPERTIES),
        number(s["latency_ms"]["p50"]),
        number(s["latency_ms"]["p99"]),
        number(s["throughput_per_s"]),
        verdict_word(s),
    ]


def verdict_table(summaries: Sequence[Mapping[str, Any]]) -> str:
    """One row per run: counts, a mark per property, latency, and whether it met its claims."""
    rows = [list(HEADER), *(verdict_row(s) for s in summaries)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def verdict_word(summary: Mapping[str, Any]) -> str:
    """``met`` or ``NOT MET``: whether every claim of the scenario held for this run."""
    return MET if summary["expectation"]["met"] else NOT_MET


def legend() -> str:
    """What every mark and property in the table means, a few words each."""
    width = max(len(m) for m, _ in MARKS)
    marks = [f"  {m.ljust(width)}  {text}" for m, text in MARKS]
    pwidth = max(len(p) for p in PROPERTIES)
    props = [f"  {p.ljust(pwidth)}  {TITLES[p]}" for p in PROPERTIES]
    verdicts = [
        "  met      every claim in the scenario's [expect] table held for this variant",
        "  NOT MET  a claim failed (each is listed under this legend)",
    ]
    return "\n".join(["legend:", *marks, "properties:", *props, "verdict:", *verdicts])


def unmet_lines(summaries: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per run whose claims failed, naming the claims."""
    return [
        f"NOT MET: {s['scenario']} / {s['variant']} / {s.get('provider', 'stripe')}: "
        + "; ".join(s["expectation"]["unmet"])
        for s in summaries
        if not s["expectation"]["met"]
    ]


def summary_line(summaries: Sequence[Mapping[str, Any]]) -> str:
    """``14/14 runs met their expectations: seed broke in 5 of 7 runs, as expected; hardened
    held in all 7 runs``: the one line to read."""
    met = sum(1 for s in summaries if s["expectation"]["met"])
    parts = []
    variants = list(dict.fromkeys(str(s["variant"]) for s in summaries))
    for v in variants:
        mine = [s for s in summaries if s["variant"] == v]
        broke = [s for s in mine if any(x == "BROKEN" for x in s["properties"].values())]
        failed = [s for s in mine if not s["expectation"]["met"]]
        text = (
            f"{v} held in all {len(mine)} runs"
            if not broke
            else f"{v} broke in {len(broke)} of {len(mine)} runs"
        )
        if failed:
            text += f", {len(failed)} NOT MET"
        elif broke:
            text += ", as expected"
        parts.append(text)
    return f"{met}/{len(summaries)} runs met their expectations: " + "; ".join(parts)
