"""The figure every scenario gets: latency CDF, throughput over time against the offered load
with fault windows shaded, and violations over time when there were any (a run without
violations gets no empty panel)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from reports.sim.frames import bin_edges, per_second
from reports.sim.plot_style import (
    OFFERED,
    finish,
    label,
    plain_log,
    shade_faults,
    style,
)


def scenario_figure(scenario: str, runs: Sequence[Any], path: Path) -> Path:
    """Draw ``draw_scenario`` and save it as a PNG at ``path``."""
    fig = draw_scenario(scenario, runs)
    return save(fig, path)


def draw_scenario(scenario: str, runs: Sequence[Any]) -> Figure:
    violated = any(r.violation_at_ms for r in runs)
    fig, axes = plt.subplots(
        1, 3 if violated else 2, figsize=(15 if violated else 11, 4.4), layout="constrained"
    )
    _cdf(axes[0], runs)
    _throughput(axes[1], runs)
    if violated:
        _violations(axes[2], runs)
    fig.suptitle(scenario)
    return fig


def save(fig: Figure, path: Path) -> Path:
    """PNG at 80 dpi, trimmed to what is drawn (legends under the axes included)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)
    return path


def _cdf(ax: Axes, runs: Sequence[Any]) -> None:
    for r in runs:
        values = np.sort(np.asarray(r.latencies_ms, dtype="float64"))
        if len(values):
            ys = np.arange(1, len(values) + 1) / len(values)
            ax.plot(values, ys, label=label(r, runs), **style(r))
    ax.set_xscale("log")
    plain_log(ax.xaxis)
    finish(ax, "first send → final answer (ms, log)", "fraction of payments", "latency CDF")


def _throughput(ax: Axes, runs: Sequence[Any], bucket_s: float = 1.0) -> None:
    """Paid per second of each run and the offered payments per second, per bin; the last
    bin divided by its real width."""
    if not runs:
        return
    edges = bin_edges(runs[0].summary["arrivals_s"], bucket_s)
    for r in runs:
        ax.stairs(per_second(r.paid_at_ms, edges), edges, label=label(r, runs), **style(r))
    ax.stairs(per_second(runs[0].arrival_ms, edges), edges, color=OFFERED, linewidth=1.2,
              linestyle=":", label="offered (arrivals/s)")  # fmt: skip
    shade_faults(ax, runs[0].fault_windows_s)
    ax.set_xlim(0, edges[-1])
    ax.set_ylim(bottom=0)
    finish(ax, "simulated time (s)", "payments / s", "paid per second (shaded: fault windows)")


def _violations(ax: Axes, runs: Sequence[Any]) -> None:
    for r in runs:
        times = np.sort(np.asarray([t for t, _p in r.violation_at_ms], dtype="float64")) / 1000
        end = max(float(r.summary["arrivals_s"]), float(times[-1]) if len(times) else 0.0)
        xs = np.concatenate([[0.0], times, [end]])
        ys = np.concatenate([[0], np.arange(1, len(times) + 1), [len(times)]])
        ax.step(xs, ys, where="post", label=label(r, runs), **style(r))
    ax.set_ylim(bottom=0)
    finish(ax, "simulated time of the first request involved (s)", "violations (cumulative)",
           "violations over time (first 50 per property)")  # fmt: skip
