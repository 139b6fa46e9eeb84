"""One chart across every scenario of a run: seed against hardened on properties broken,
paid per second and p99. With several providers a scenario's bar takes the union of broken
properties, the mean paid/s and the worst p99 over them (the figure says so)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from reports.sim.plot_style import COLORS
from reports.sim.scenario_plot import save

BAR = 0.38


def comparison_rows(
    summaries: Sequence[Mapping[str, Any]],
) -> dict[tuple[str, str], dict[str, float]]:
    """(scenario, variant) → properties broken (union over providers), mean paid/s, worst
    p99 in ms."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for s in summaries:
        row = rows.setdefault(
            (str(s["scenario"]), str(s["variant"])), {"broken": set(), "paid": [], "p99": []}
        )
        row["broken"] |= {p for p, v in s["properties"].items() if v == "BROKEN"}
        row["paid"].append(float(s["throughput_per_s"]))
        if s["latency_ms"]["p99"] is not None:
            row["p99"].append(float(s["latency_ms"]["p99"]))
    return {
        key: {
            "broken": float(len(row["broken"])),
            "paid_per_s": float(np.mean(row["paid"])),
            "p99_ms": float(max(row["p99"])) if row["p99"] else float("nan"),
        }
        for key, row in rows.items()
    }


def comparison_figure(summaries: Sequence[Mapping[str, Any]], path: Path) -> Path:
    return save(draw_comparison(summaries), path)


def draw_comparison(summaries: Sequence[Mapping[str, Any]]) -> Figure:
    rows = comparison_rows(summaries)
    scenarios = list(dict.fromkeys(str(s["scenario"]) for s in summaries))
    variants = list(dict.fromkeys(str(s["variant"]) for s in summaries))
    providers = sorted({str(s.get("provider", "stripe")) for s in summaries})
    y = np.arange(len(scenarios))
    fig, axes = plt.subplots(
        1, 3, figsize=(14, 1.4 + 0.38 * len(scenarios)), sharey=True, layout="constrained"
    )
    panels = (
        ("broken", "properties broken (of E1–E7, T)", "{:.0f}"),
        ("paid_per_s", "paid per second" + (" (mean over providers)" if len(providers) > 1
                                             else ""), "{:.1f}"),
        ("p99_ms", "p99 latency (s" + (", worst provider)" if len(providers) > 1 else ")"),
         "{:.1f}"),
    )  # fmt: skip
    for ax, (key, title, text) in zip(axes, panels, strict=True):
        for n, variant in enumerate(variants):
            offset = (n - (len(variants) - 1) / 2) * BAR
            values = np.array([rows.get((sc, variant), {}).get(key, np.nan) for sc in scenarios])
            if key == "p99_ms":
                values = values / 1000
            ax.barh(y + offset, values, height=BAR, color=COLORS.get(variant, "#777777"),
                    label=variant)  # fmt: skip
            for yi, v in zip(y + offset, values, strict=True):
                if not np.isnan(v):
                    quiet = key == "broken" and v == 0  # a zero-length bar still says 0
                    ax.text(v, yi, " " + text.format(v), va="center", fontsize=7,
                            color="#888888" if quiet else "black")  # fmt: skip
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        ax.set_xlim(0, _top(ax.get_xlim()[1]))
    axes[0].set_xlabel("properties")
    axes[1].set_xlabel("payments / s")
    axes[2].set_xlabel("seconds")
    axes[0].set_yticks(y, scenarios)
    axes[0].invert_yaxis()
    axes[0].xaxis.get_major_locator().set_params(integer=True)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center",
               ncol=len(variants), frameon=False)  # fmt: skip
    fig.suptitle("seed vs hardened across scenarios (providers: " + ", ".join(providers) + ")")
    return fig


def _top(limit: float) -> float:
    """Room right of the longest bar for its number."""
    return max(1.0, limit * 1.12)
