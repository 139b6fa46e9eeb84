"""The Markdown and self-contained HTML report of a sim run: the verdict table in the
terminal's words and colours, a table of contents, the cross-scenario chart, and per scenario
its figures, unmet claims and violation traces."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reports.sim.capacity import capacity_figure, is_capacity_run, pressure_figure
from reports.sim.compare import comparison_figure
from reports.sim.scenario_plot import scenario_figure
from reports.sim.verdict_html import CLASSES, STYLE, anchor, legend_html, verdict_table_html
from reports.sim.verdicts import (
    EXPECTED_BREAK,
    HEADER,
    MET,
    NOT_MET,
    cell,
    verdict_row,
    verdict_word,
)

COMPARISON = "seed-vs-hardened"

PAGE_STYLE = (
    "body{font-family:sans-serif;max-width:1250px;margin:auto;padding:0 12px;color:#222}"
    "table.verdicts{border-collapse:collapse;font-size:13px}"
    "table.verdicts td,table.verdicts th{padding:2px 6px;border-bottom:1px solid #ddd}"
    "table.verdicts th{text-align:left;background:#f3f3f3;position:sticky;top:0}"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}"
    "nav.toc ol{columns:3;font-size:14px}nav.toc li{margin:2px 0}"
    "span.badge{font-size:11px;padding:0 4px;border-radius:3px;margin-left:4px}"
    ".legend{display:flex;gap:40px;font-size:12px;margin-top:12px}"
    ".legend ul{list-style:none;padding-left:0}"
    ".legend span{padding:0 4px;border-radius:3px}"
    "pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:12px}img{max-width:100%}"
    "h2{border-top:1px solid #ccc;padding-top:10px}a.top{font-size:12px;margin-left:8px}" + STYLE
)


def figure_path(out: Path, scenario: str, kind: str = "") -> Path:
    return out / "plots" / (f"{scenario}-{kind}.png" if kind else f"{scenario}.png")


def scenario_figures(scenario: str, runs: Sequence[Any], out: Path) -> list[Path]:
    """Every figure a scenario gets: the main one; for a capacity run (load that changes, no
    faults) throughput and p99 against offered load; where the provider turned charges away
    or a capacity run queued, 429s and worker queue depth over time."""
    paths = [scenario_figure(scenario, runs, figure_path(out, scenario))]
    capacity = any(is_capacity_run(r) for r in runs)
    if capacity:
        paths.append(capacity_figure(scenario, runs, figure_path(out, scenario, "capacity")))
    if capacity or any(len(r.rate_limited_at_ms) for r in runs):
        paths.append(pressure_figure(scenario, runs, figure_path(out, scenario, "pressure")))
    return paths


def write_report(
    out: Path,
    runs: Sequence[Any],
    descriptions: Mapping[str, str],
    traces: Mapping[tuple[str, str, str], list[str]],
    figures: Mapping[str, list[Path]] | None = None,
    notes: Sequence[str] = (),
) -> tuple[Path, Path]:
    """Write ``report.md`` (PNG files beside it) and ``report.html`` (PNGs embedded).
    ``traces``: violation lines per (scenario, variant, provider); ``figures``: drawn
    beforehand (in parallel) per scenario, else drawn here; ``notes``: paragraphs under the
    headline (which runs the report covers)."""
    out.mkdir(parents=True, exist_ok=True)
    summaries = [r.summary for r in runs]
    by_scenario: dict[str, list[Any]] = {}
    for r in runs:
        by_scenario.setdefault(r.summary["scenario"], []).append(r)
    drawn = dict(figures or {})
    for name, group in by_scenario.items():
        if name not in drawn:
            drawn[name] = scenario_figures(name, group, out)
    compare = comparison_figure(summaries, figure_path(out, COMPARISON))
    met = sum(1 for s in summaries if s["expectation"]["met"])
    head = f"{met} of {len(runs)} runs met their expectations."
    md = ["# payharness simulation report", "", head, "", *(f"{n}\n" for n in notes)]
    md += [_table_md(summaries), "", f"![seed vs hardened](plots/{compare.name})", ""]
    body = [
        '<h1 id="top">payharness simulation report</h1>',
        f'<p><b class="{"ok" if met == len(runs) else "failure"}">{html.escape(head)}</b></p>',
        *(f"<p>{html.escape(note)}</p>" for note in notes),
        _toc(by_scenario),
        "<h2>Verdicts</h2>",
        verdict_table_html(summaries),
        legend_html(),
        "<h2>Seed vs hardened across scenarios</h2>",
        _img(compare, "seed vs hardened across scenarios"),
    ]
    for name, group in by_scenario.items():
        desc = descriptions.get(name, "")
        md += [f"## {name}", "", desc, ""]
        md += [f"![{name}](plots/{p.name})\n" for p in drawn[name]]
        body += [
            f'<h2 id="{anchor(name)}">{html.escape(name)}<a class="top" href="#top">top</a></h2>',
            f"<p>{html.escape(desc)}</p>",
            verdict_table_html([r.summary for r in group], link=False),
        ]
        if not any(r.violation_at_ms for r in group):
            body.append("<p>No violations in any run of this scenario.</p>")
        body += [_img(p, name) for p in drawn[name]]
        for r in group:
            s = r.summary
            who = f"{s['variant']} / {s.get('provider', 'stripe')}"
            unmet = s["expectation"]["unmet"]
            if unmet:
                md += [f"**{who}: {NOT_MET}:** " + "; ".join(unmet), ""]
                body.append(
                    f'<p><span class="failure">{NOT_MET}</span> <b>{html.escape(who)}:</b> '
                    f"{html.escape('; '.join(unmet))}</p>"
                )
            lines = traces.get((name, str(s["variant"]), str(s.get("provider", "stripe"))), [])
            if lines:
                md += [f"### {who}: violations", "", "```", *lines, "```", ""]
                body += [
                    f"<h3>{html.escape(who)}: violations</h3>",
                    "<pre>" + html.escape("\n".join(lines)) + "</pre>",
                ]
    md_path = out / "report.md"
    md_path.write_text("\n".join(md) + "\n", encoding="utf-8")
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>payharness simulation report</title><style>{PAGE_STYLE}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
    html_path = out / "report.html"
    html_path.write_text(page, encoding="utf-8")
    return md_path, html_path


def _toc(by_scenario: Mapping[str, Sequence[Any]]) -> str:
    """Each scenario linked to its section, with one mark: ``NOT MET`` when a run failed a
    claim, ``BROKEN(exp)`` when one broke as expected, else ``met``."""
    items = []
    for name, group in by_scenario.items():
        words = [verdict_word(r.summary) for r in group]
        marks = {cell(r.summary, p) for r in group for p in r.summary["properties"]}
        worst = NOT_MET if NOT_MET in words else EXPECTED_BREAK if EXPECTED_BREAK in marks else MET
        badge = f'<span class="badge {CLASSES[worst]}">{html.escape(worst)}</span>'
        items.append(f'<li><a href="#{anchor(name)}">{html.escape(name)}</a>{badge}</li>')
    return '<nav class="toc"><h2>Scenarios</h2><ol>' + "".join(items) + "</ol></nav>"


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></p>'


def _table_md(summaries: Sequence[Mapping[str, Any]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(verdict_row(s)) + " |" for s in summaries]
    return "\n".join(lines)
