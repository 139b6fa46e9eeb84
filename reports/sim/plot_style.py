"""What every sim plot shares: a colour per variant, a line style per provider, run labels,
fault windows shaded, and legends placed under the axes so they never cover the data or a
fault window."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

COLORS = {"seed": "#d62728", "hardened": "#1f77b4"}
LINESTYLES = {"stripe": "-", "paypal": "--", "paypal-wait": ":"}
FAULT_COLORS = ("#ff9896", "#c5b0d5", "#ffbb78", "#98df8a", "#c49c94", "#f7b6d2")
OFFERED = "#9e9e9e"


def provider(run: Any) -> str:
    return str(run.summary.get("provider", "stripe"))


def label(run: Any, runs: Sequence[Any]) -> str:
    """``seed``, or ``seed · paypal`` when the runs cover more than one provider."""
    variant = str(run.summary["variant"])
    if len({provider(r) for r in runs}) > 1:
        return f"{variant} · {provider(run)}"
    return variant


def style(run: Any) -> dict[str, Any]:
    """Colour by variant, line style by provider."""
    return {
        "color": COLORS.get(str(run.summary["variant"]), "#555555"),
        "linestyle": LINESTYLES.get(provider(run), "-"),
    }


def shade_faults(ax: Axes, windows: Sequence[tuple[float, float, str]]) -> None:
    """Fault windows as shaded spans (a point in time as a dashed line); a fault that lasts
    the whole run is only named in the legend."""
    shown: set[str] = set()
    for i, (start, end, kind) in enumerate(windows):
        color = FAULT_COLORS[i % len(FAULT_COLORS)]
        name = kind if kind not in shown else None
        shown.add(kind)
        if start < 0:
            ax.plot([], [], " ", label=f"{kind} (whole run)")
        elif end > start:
            ax.axvspan(start, end, color=color, alpha=0.35, label=name, zorder=0)
        else:
            ax.axvline(start, color=color, linestyle="--", label=name)


def legend_below(ax: Axes, ncol: int = 2) -> None:
    """The axes' legend under its x label, in columns: it covers no data and no fault
    window."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    ax.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.16),
        ncol=min(ncol, len(handles)),
        fontsize=8,
        frameon=False,
    )


def finish(ax: Axes, xlabel: str, ylabel: str, title: str, ncol: int = 2) -> None:
    """Label an axes, grid it lightly, put its legend underneath."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    legend_below(ax, ncol)


def plain_log(axis: Axis) -> None:
    """A log axis labelled 100, 1,000, 10,000 (not 10², 10³): milliseconds read at once.
    Call it after plotting: an axis spanning two decades or less is also labelled at 2 and 5
    (one decade would otherwise show one label), a wider one only at powers of ten."""
    lo, hi = axis.get_view_interval()
    narrow = lo > 0 and hi / lo <= 100
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if narrow else (1.0,)))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())
