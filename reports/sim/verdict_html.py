"""The verdict table and its legend in HTML, in the terminal's words (``ok``, ``BROKEN``,
``BROKEN(exp)``, ``met``, ``NOT MET``), each cell classed so the page can colour it: a
failure red, an expected break amber, a holding property green, at a glance."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from core.checker import PROPERTIES, TITLES
from reports.sim.verdicts import (
    EXPECTED_BREAK,
    HEADER,
    HOLDS,
    MARKS,
    MET,
    NOT_CHECKED,
    NOT_MET,
    REFUTED_BREAK,
    UNCLAIMED_BREAK,
    UNEXPECTED_BREAK,
    verdict_row,
)

CLASSES = {
    HOLDS: "ok",
    MET: "ok",
    EXPECTED_BREAK: "expected",
    UNCLAIMED_BREAK: "unclaimed",
    UNEXPECTED_BREAK: "failure",
    REFUTED_BREAK: "failure",
    NOT_MET: "failure",
    NOT_CHECKED: "na",
}
"""The class of each mark; ``STYLE`` colours them."""

STYLE = (
    ".ok{color:#1e6b2e}td.ok.verdict,span.ok{background:#e6f4ea}"
    ".expected{color:#7a4b00;background:#fdefc8}"
    ".unclaimed{color:#5f4b00;background:#f6f0d8}"
    ".failure{color:#fff;background:#c62828;font-weight:bold}"
    ".na{color:#888}"
)
NUMERIC = {"requests", "charges", "p50 ms", "p99 ms", "paid/s"}


def _cell(column: str, text: str, tag: str = "td") -> str:
    classes = [CLASSES[text]] if column in (*PROPERTIES, "verdict") and text in CLASSES else []
    if column in NUMERIC:
        classes.append("num")
    elif column == "verdict":
        classes.append("verdict")
    attr = f' class="{" ".join(classes)}"' if classes else ""
    return f"<{tag}{attr}>{html.escape(text)}</{tag}>"


def verdict_table_html(summaries: Sequence[Mapping[str, Any]], link: bool = True) -> str:
    """One row per run, as the terminal prints it; with ``link`` each scenario name points at
    its section (``anchor``)."""
    head = "".join(
        f'<th title="{html.escape(TITLES[c])}">{c}</th>' if c in TITLES else f"<th>{c}</th>"
        for c in HEADER
    )
    rows = []
    for s in summaries:
        cells = [_cell(c, t) for c, t in zip(HEADER, verdict_row(s), strict=True)]
        if link:
            name = html.escape(str(s["scenario"]))
            cells[0] = f'<td><a href="#{anchor(str(s["scenario"]))}">{name}</a></td>'
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<table class="verdicts"><thead><tr>{head}</tr></thead><tbody>'
        + "\n".join(rows)
        + "</tbody></table>"
    )


def legend_html() -> str:
    """What every mark, property and verdict means: the terminal's legend, coloured."""
    marks = "".join(
        f"<li>{_cell('E1', mark, 'span')} {html.escape(text)}</li>" for mark, text in MARKS
    )
    verdicts = (
        f"<li>{_cell('verdict', MET, 'span')} every claim of the scenario held for this run</li>"
        f"<li>{_cell('verdict', NOT_MET, 'span')} a claim failed (listed in its section)</li>"
    )
    props = "".join(f"<li><b>{p}</b> {html.escape(TITLES[p])}</li>" for p in PROPERTIES)
    return (
        '<div class="legend"><div><b>marks</b><ul>' + marks + verdicts + "</ul></div>"
        "<div><b>properties</b><ul>" + props + "</ul></div></div>"
    )


def anchor(scenario: str) -> str:
    """The id of a scenario's section."""
    return "scenario-" + "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in scenario)
