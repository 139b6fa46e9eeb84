"""Figures (matplotlib, Agg) and the Markdown and self-contained HTML report of a sim run."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from reports.sim.frames import (
    latency_frame,
    summary_frame,
    throughput_frame,
    violations_frame,
)

COLORS = {"seed": "#d62728", "hardened": "#1f77b4"}
FAULT_COLORS = ("#ff9896", "#c5b0d5", "#ffbb78", "#98df8a", "#c49c94", "#f7b6d2")


def scenario_figure(scenario: str, runs: Sequence[Any], path: Path) -> Path:
    """Three panels: latency CDF per variant, throughput with fault windows shaded,
    cumulative violations over time."""
    lat = latency_frame(runs)
    thr = throughput_frame(runs)
    vio = violations_frame(runs)
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.6), dpi=80)
    ax_cdf, ax_thr, ax_vio = axes
    for variant, group in lat.groupby("variant", sort=True) if not lat.empty else []:
        values = np.sort(group["latency_ms"].to_numpy())
        if len(values):
            ax_cdf.plot(
                values,
                np.arange(1, len(values) + 1) / len(values),
                label=str(variant),
                color=COLORS.get(str(variant)),
            )
    ax_cdf.set_xscale("log")
    ax_cdf.set_xlabel("first send → final answer (ms)")
    ax_cdf.set_ylabel("fraction of payments")
    ax_cdf.set_title("latency CDF")
    ax_cdf.grid(alpha=0.3)
    for variant, group in thr.groupby("variant", sort=True) if not thr.empty else []:
        ax_thr.plot(
            group["t_s"],
            group["paid_per_s"],
            label=str(variant),
            color=COLORS.get(str(variant)),
            drawstyle="steps-post",
        )
    shown: set[str] = set()
    windows = runs[0].fault_windows_s if runs else []
    for i, (start, end, kind) in enumerate(windows):
        color = FAULT_COLORS[i % len(FAULT_COLORS)]
        label = kind if kind not in shown else None
        shown.add(kind)
        if start < 0:
            ax_thr.plot([], [], " ", label=f"{kind} (whole run)")
        elif end > start:
            ax_thr.axvspan(start, end, color=color, alpha=0.35, label=label)
        else:
            ax_thr.axvline(start, color=color, linestyle="--", label=label)
    ax_thr.set_xlabel("simulated time (s)")
    ax_thr.set_ylabel("paid / s")
    ax_thr.set_title("throughput (fault windows shaded)")
    ax_thr.grid(alpha=0.3)
    for r in runs:
        variant = r.summary["variant"]
        times = vio[vio["variant"] == variant]["t_s"].sort_values().to_numpy()
        load_s = r.summary["arrivals_s"]
        xs = np.concatenate([[0.0], times, [max(load_s, times[-1] if len(times) else 0.0)]])
        ys = np.concatenate([[0], np.arange(1, len(times) + 1), [len(times)]])
        ax_vio.step(xs, ys, where="post", label=variant, color=COLORS.get(variant))
    ax_vio.set_xlabel("simulated time of the first request involved (s)")
    ax_vio.set_ylabel("violations (cumulative)")
    ax_vio.set_title("violations over time (first 50 per property)")
    ax_vio.grid(alpha=0.3)
    for ax in axes:
        handles, _labels = ax.get_legend_handles_labels()
        if handles:
            ax.legend(fontsize=8)
    fig.suptitle(scenario)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def figure_path(out: Path, scenario: str) -> Path:
    return out / "plots" / f"{scenario}.png"


def _table_md(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join("" if v is None else str(v) for v in row) + " |")
    return "\n".join(lines)


def write_report(
    out: Path,
    runs: Sequence[Any],
    descriptions: dict[str, str],
    traces: dict[tuple[str, str], list[str]],
    figures: dict[str, Path] | None = None,
    notes: Sequence[str] = (),
) -> tuple[Path, Path]:
    """Write ``report.md`` (PNG files beside it) and ``report.html`` (PNGs embedded).
    ``notes``: paragraphs under the headline (which runs the report covers)."""
    out.mkdir(parents=True, exist_ok=True)
    table = summary_frame([r.summary for r in runs])
    by_scenario: dict[str, list[Any]] = {}
    for r in runs:
        by_scenario.setdefault(r.summary["scenario"], []).append(r)
    figures = dict(figures or {})
    for name, group in by_scenario.items():
        if name not in figures:
            figures[name] = scenario_figure(name, group, figure_path(out, name))
    met = sum(1 for r in runs if r.summary["expectation"]["met"])
    head = f"{met} of {len(runs)} runs met their expectations."
    md = ["# payharness simulation report", "", head, ""]
    for note in notes:
        md += [note, ""]
    md += [_table_md(table), ""]
    body = [
        "<h1>payharness simulation report</h1>",
        f"<p>{html.escape(head)}</p>",
        *(f"<p>{html.escape(note)}</p>" for note in notes),
        table.to_html(index=False, border=0, classes="verdicts"),
    ]
    for name, group in by_scenario.items():
        desc = descriptions.get(name, "")
        md += [f"## {name}", "", desc, "", f"![{name}](plots/{name}.png)", ""]
        data = base64.b64encode(figures[name].read_bytes()).decode()
        body += [
            f"<h2>{html.escape(name)}</h2>",
            f"<p>{html.escape(desc)}</p>",
            f'<img alt="{html.escape(name)}" src="data:image/png;base64,{data}">',
        ]
        for r in group:
            variant = r.summary["variant"]
            unmet = r.summary["expectation"]["unmet"]
            if unmet:
                md += [f"**{variant}: expectation not met:** " + "; ".join(unmet), ""]
                body.append(
                    f"<p><b>{html.escape(variant)}: expectation not met:</b> "
                    f"{html.escape('; '.join(unmet))}</p>"
                )
            lines = traces.get((name, variant), [])
            if lines:
                md += [f"### {variant}: violations", "", "```", *lines, "```", ""]
                body += [
                    f"<h3>{html.escape(variant)}: violations</h3>",
                    "<pre>" + html.escape("\n".join(lines)) + "</pre>",
                ]
    md_path = out / "report.md"
    md_path.write_text("\n".join(md) + "\n", encoding="utf-8")
    style = (
        "body{font-family:sans-serif;max-width:1250px;margin:auto}"
        "table.verdicts{border-collapse:collapse;font-size:13px}"
        "table.verdicts td,table.verdicts th{padding:2px 6px;border-bottom:1px solid #ddd}"
        "pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:12px}img{max-width:100%}"
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>payharness simulation report</title><style>{style}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
    html_path = out / "report.html"
    html_path.write_text(page, encoding="utf-8")
    return md_path, html_path
