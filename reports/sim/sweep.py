"""Sweep reports: a frame of cells, heatmaps of violation rate and p99, Markdown and HTML."""

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
from matplotlib.figure import Figure

from reports.sim.numbers import number
from sim.sweep import ALIASES


def sweep_frame(results: Sequence[dict[str, Any]], axis_names: Sequence[str]) -> pd.DataFrame:
    rows = []
    for r in results:
        row = {name: r["cell"][name] for name in axis_names}
        for col in ("payments", "violations", "violation_rate", "p50_ms", "p99_ms", "paid_per_s"):
            row[col] = r.get(col)
        row["broken"] = ",".join(r.get("broken") or [])
        row["error"] = r.get("error") or ""
        rows.append(row)
    return pd.DataFrame(rows)


def _grid(frame: pd.DataFrame, axis_names: Sequence[str], value: str) -> pd.DataFrame:
    cols = axis_names[-1]
    rows = list(axis_names[:-1])
    if not rows:
        grid = frame.set_index(cols)[[value]].T
        grid.index = [value]
        return grid
    label = frame[rows].astype(str).agg(lambda r: ", ".join(
        f"{n}={v}" for n, v in zip(rows, r, strict=True)), axis=1)  # fmt: skip
    return frame.assign(_row=label).pivot_table(
        index="_row", columns=cols, values=value, aggfunc="first", sort=False
    )


PANELS = (
    ("violation_rate", "Reds", "violations per payment", "violations / payment", "{:.3f}"),
    ("p99_ms", "viridis", "p99 latency, first send → final answer", "ms", "{:,.0f}"),
)
"""Each heatmap: the column, its colour map, title, colour-bar unit and cell format. Both
colour scales start at 0, so a pale cell means little, not 'the least of this grid'."""


def axis_label(name: str) -> str:
    """``lock_ttl (lock TTL in seconds)`` for an alias; a dotted key as it was given."""
    return f"{name} ({ALIASES[name][2]})" if name in ALIASES else name


def heatmaps(frame: pd.DataFrame, axis_names: Sequence[str], title: str, path: Path) -> Path:
    fig = draw_heatmaps(frame, axis_names, title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def draw_heatmaps(frame: pd.DataFrame, axis_names: Sequence[str], title: str) -> Figure:
    """Violations per payment and p99 per cell, each with its unit on the colour bar."""
    fig, axes = plt.subplots(
        1, 2, figsize=(13, 2.0 + 0.45 * max(1, _rows(frame, axis_names))), layout="constrained"
    )
    for ax, (value, cmap, label, unit, fmt) in zip(axes, PANELS, strict=True):
        grid = _grid(frame, axis_names, value).astype(float)
        data = grid.to_numpy()
        top = float(np.nanmax(data)) if np.isfinite(data).any() else 0.0
        image = ax.imshow(data, cmap=cmap, aspect="auto", vmin=0.0, vmax=max(top, 1e-9))
        ax.set_xticks(range(len(grid.columns)), [str(c) for c in grid.columns])
        ax.set_yticks(range(len(grid.index)), [str(i) for i in grid.index])
        ax.set_xlabel(axis_label(axis_names[-1]))
        if len(axis_names) > 1:
            ax.set_ylabel(", ".join(axis_label(n) for n in axis_names[:-1]))
        ax.set_title(label)
        for (i, j), v in np.ndenumerate(data):
            text = "err" if np.isnan(v) else fmt.format(v)
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="black",
                    bbox={"facecolor": "white", "alpha": 0.6, "linewidth": 0})  # fmt: skip
        fig.colorbar(image, ax=ax, label=f"{unit} (scale from 0)")
    fig.suptitle(title)
    return fig


def _rows(frame: pd.DataFrame, axis_names: Sequence[str]) -> int:
    if len(axis_names) < 2:
        return 1
    return int(frame[list(axis_names[:-1])].drop_duplicates().shape[0])


def write_sweep_report(
    out: Path, frame: pd.DataFrame, axis_names: Sequence[str], title: str
) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    png = heatmaps(frame, axis_names, title, out / "sweep.png")
    frame.to_csv(out / "sweep.csv", index=False)
    md = [f"# {title}", "", "![sweep](sweep.png)", "", frame.to_markdown(index=False)
          if _has_tabulate() else frame.to_string(index=False), ""]  # fmt: skip
    md_path = out / "sweep.md"
    md_path.write_text("\n".join(md) + "\n", encoding="utf-8")
    data = base64.b64encode(png.read_bytes()).decode()
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body style='font-family:sans-serif'>"
        f"<h1>{html.escape(title)}</h1><img src='data:image/png;base64,{data}'>"
        + frame.to_html(index=False, border=0, formatters=_formatters(frame))
        + "</body></html>\n"
    )
    html_path = out / "sweep.html"
    html_path.write_text(page, encoding="utf-8")
    return md_path, html_path


def _formatters(frame: pd.DataFrame) -> dict[str, Any]:
    """Latencies and rates as the run report writes them (``1,115``, ``12.3``), the
    violation rate to four places (it is small)."""
    out: dict[str, Any] = {c: number for c in ("p50_ms", "p99_ms", "paid_per_s") if c in frame}
    if "violation_rate" in frame:
        out["violation_rate"] = lambda v: "-" if pd.isna(v) else f"{v:.4f}"
    return out


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True
