"""The capacity report's figures: curves per server count with the knee, the knee against
servers with its bottleneck, and the replay path beside new payments."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from reports.capacity.live import LivePoint
from reports.sim.plot_style import COLORS
from sim.capacity_search import Curve

MARKERS = {"new": "o", "replay": "s"}
COLUMNS = 3
"""Server counts side by side in the curves figure; more wrap to the next pair of rows."""
PLAIN = FuncFormatter(lambda v, _pos: f"{v:g}")
"""Log-axis ticks as plain numbers (20, 50, 100), not powers of ten."""
SOME = FuncFormatter(lambda v, _pos: f"{v:g}" if f"{v:g}"[0] in "25" else "")
"""Minor log ticks labelled at 2 and 5 times a power of ten only."""
SHORT = {
    "server CPU": "server CPU",
    "server workers": "workers",
    "server DB pool": "DB pool",
    "Postgres": "Postgres",
    "Redis (busiest shard)": "Redis",
    "provider rate limit": "provider",
}


def _of(curves: Sequence[Curve], path: str) -> list[Curve]:
    return [c for c in curves if c.spec.path == path]


def _main_path(curves: Sequence[Curve]) -> tuple[str, list[Curve]]:
    """New payments when the run has them (``--paths replay`` alone: the replays)."""
    path = "new" if _of(curves, "new") else "replay"
    return path, _of(curves, path)


WHAT = {"new": "New payments", "replay": "Replays"}


def _servers(curves: Sequence[Curve]) -> list[int]:
    return sorted({c.spec.servers for c in curves})


def plot_curves(
    curves: Sequence[Curve], live: Sequence[LivePoint], slo_ms: float, label: str, path: Path
) -> Path:
    """Per server count: throughput (top) and p99 (bottom) against offered load, both
    variants, the knee starred; live points hollow on the same axes."""
    path_name, new = _main_path(curves)
    servers = _servers(new)
    cols = min(COLUMNS, len(servers))
    rows = -(-len(servers) // cols)  # each a throughput row over a p99 row
    fig, axes = plt.subplots(2 * rows, cols, figsize=(4.4 * cols, 6.4 * rows), squeeze=False)
    for unused in range(len(servers), rows * cols):
        axes[2 * (unused // cols)][unused % cols].set_visible(False)
        axes[2 * (unused // cols) + 1][unused % cols].set_visible(False)
    top_y = max((lv.achieved for c in new for lv in c.levels), default=1.0) / 1000 * 1.15
    p99s = [lv.p99_ms for c in new for lv in c.levels] + [p.p99_ms for p in live]
    low_p99 = min(p99s, default=1.0) * 0.8
    for i, n in enumerate(servers):
        row, col = divmod(i, cols)
        top, bottom = axes[2 * row][col], axes[2 * row + 1][col]
        for c in (c for c in new if c.spec.servers == n):
            colour = COLORS.get(c.spec.variant)
            levels = c.levels
            x = [lv.rate / 1000 for lv in levels]
            thr = [lv.achieved / 1000 for lv in levels]
            p99 = [min(lv.p99_ms, 5_000) for lv in levels]
            top.plot(x, thr, "-", color=colour, label=f"{c.spec.variant} (sim)")
            bottom.plot(x, p99, "-", color=colour, label=f"{c.spec.variant} (sim)")
            for ax, ys in ((top, thr), (bottom, p99)):
                over = [(a, b) for a, b, lv in zip(x, ys, levels, strict=True) if not lv.held]
                if over:
                    ax.plot(*zip(*over, strict=True), "x", ms=6, color=colour,
                            label="level over (p99, errors or < 90 % answered)")  # fmt: skip
            k = c.knee
            if k is not None:
                top.plot(k.rate / 1000, k.achieved / 1000, "*", ms=15, color=colour, mec="k",
                         label="knee")  # fmt: skip
                bottom.plot(k.rate / 1000, k.p99_ms, "*", ms=15, color=colour, mec="k")
                below = c.spec.variant == "hardened"
                top.annotate(
                    f"{k.achieved:,.0f}/s", (k.rate / 1000, k.achieved / 1000),
                    textcoords="offset points", xytext=(-8, -16 if below else 10), ha="right",
                    fontsize=8, color=colour,
                )  # fmt: skip
        for p in (p for p in live if p.servers == n):
            colour = COLORS.get(p.variant)
            top.plot(p.offered_per_s / 1000, p.achieved_per_s / 1000, "D", mfc="none",
                     color=colour, label=f"{p.variant} (live)")  # fmt: skip
            bottom.plot(p.offered_per_s / 1000, p.p99_ms, "D", mfc="none", color=colour)
        bottom.axhline(slo_ms, ls="--", color="k", lw=0.8, label=f"SLO p99 {slo_ms:.0f} ms")
        measured = any(p.servers == n for p in live)
        top.set_title(f"{n} servers" + (" (log axes: live points)" if measured else ""))
        bottom.set_yscale("log")
        bottom.set_xlabel("offered (thousand payments/s)")
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
            if not measured:
                ax.set_xlim(left=0)
        top.plot([0, top_y], [0, top_y], color="#999", lw=0.6, ls=":")
        if measured:  # live points are far below the simulated curve: both must show
            for ax in (top, bottom):
                ax.set_xscale("log")
            top.set_yscale("log")
            top.yaxis.set_major_formatter(PLAIN)
            top.xaxis.set_major_formatter(PLAIN)
            bottom.xaxis.set_major_formatter(PLAIN)
        else:
            top.set_ylim(0, top_y)
        bottom.set_ylim(low_p99, slo_ms * 6)
        bottom.yaxis.set_major_formatter(PLAIN)
        bottom.yaxis.set_minor_formatter(SOME)

    handles: dict[str, Artist] = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(lab, h)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=4,
               fontsize=9, frameon=False)  # fmt: skip
    for row in range(rows):
        axes[2 * row][0].set_ylabel("answered (thousand payments/s)")
        axes[2 * row + 1][0].set_ylabel("p99 latency (ms, log)")
    fig.suptitle(
        f"{WHAT[path_name]}: throughput and p99 against offered load — {label}", fontsize=11
    )
    return _save(fig, path, bottom=0.9 / (6.4 * rows), top=1 - 0.35 / (6.4 * rows))


def plot_knees(curves: Sequence[Curve], label: str, path: Path) -> Path:
    """The knee against the number of servers, both variants, the bottleneck named at each
    point; dashed, what the resources allow on paper."""
    fig, ax = plt.subplots(figsize=(10, 5.5))
    path_name, new = _main_path(curves)
    top_at: dict[int, float] = {}
    for c in new:
        if c.knee is not None:
            top_at[c.spec.servers] = max(top_at.get(c.spec.servers, 0.0), c.knee.achieved)
    for variant in sorted({c.spec.variant for c in new}, reverse=True):
        mine = sorted((c for c in new if c.spec.variant == variant), key=lambda c: c.spec.servers)
        colour = COLORS.get(variant)
        xs = [c.spec.servers for c in mine]
        knees = [c.knee.achieved if c.knee else 0.0 for c in mine]
        ax.plot(xs, knees, "o-", color=colour, lw=2, label=f"{variant}: knee (simulated)")
        ax.plot(xs, [c.paper_bound for c in mine], "--", color=colour, lw=1,
                label=f"{variant}: lowest paper bound")  # fmt: skip
        for c, y in zip(mine, knees, strict=True):
            if c.knee is not None:
                ax.annotate(
                    f"{y:,.0f}/s\n{SHORT.get(c.knee.bottleneck, c.knee.bottleneck)}",
                    (c.spec.servers, y), textcoords="offset points",
                    xytext=(0, 10 if y >= top_at[c.spec.servers] else -30), ha="center",
                    fontsize=8,
                    color=colour,
                )  # fmt: skip
    ax.set_xscale("log", base=2)
    servers = _servers(new)
    ax.set_xticks(servers, [str(n) for n in servers])
    ax.set_xlabel("servers")
    ax.set_ylabel(f"requests/s at p99 < SLO ({WHAT[path_name].lower()})")
    ax.set_ylim(bottom=0, top=ax.get_ylim()[1] * 1.15)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(f"Knee against servers, bottleneck at each knee\n{label}", fontsize=11)
    return _save(fig, path)


def plot_replay(curves: Sequence[Curve], slo_ms: float, label: str, path: Path) -> Path:
    """Left: knee against servers, new payments and replays (same key resent), both
    variants. Right: p99 against offered load at the fewest servers, both paths."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    servers = _servers(curves)
    for c_path in ("new", "replay"):
        for variant in sorted({c.spec.variant for c in curves}, reverse=True):
            mine = sorted(
                (c for c in curves if c.spec.path == c_path and c.spec.variant == variant),
                key=lambda c: c.spec.servers,
            )
            if not mine:
                continue
            # seed hollow and larger, so a hardened curve on top of it leaves it visible
            look = {
                "linestyle": "-" if c_path == "new" else ":",
                "marker": MARKERS[c_path],
                "color": COLORS.get(variant),
                "mfc": "none" if variant == "seed" else COLORS.get(variant),
                "label": f"{variant}, {c_path}",
            }
            left.plot([c.spec.servers for c in mine],
                      [c.knee.achieved if c.knee else float("nan") for c in mine],
                      lw=2, ms=10 if variant == "seed" else 5, **look)  # fmt: skip
            first = next((c for c in mine if c.spec.servers == servers[0]), None)
            if first is not None:
                right.plot([lv.rate for lv in first.levels], [lv.p99_ms for lv in first.levels],
                           ms=7 if variant == "seed" else 3, **look)  # fmt: skip
    left.set_xscale("log", base=2)
    left.set_xticks(servers, [str(n) for n in servers])
    left.set_yscale("log")
    left.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
    left.set_xlabel("servers")
    left.set_ylabel("knee (payments or replays/s, log)")
    left.set_title("knee: new payments and replays")
    right.axhline(slo_ms, ls="--", color="k", lw=0.8, label=f"SLO p99 {slo_ms:.0f} ms")
    right.set_xscale("log")
    right.set_yscale("log")
    right.yaxis.set_major_formatter(PLAIN)
    right.set_xlabel("offered (requests/s, log)")
    right.set_ylabel("p99 latency (ms, log)")
    right.set_title(f"p99 against offered load, {servers[0]} servers")
    for ax, where in ((left, "center right"), (right, "upper left")):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, loc=where)
    fig.suptitle(f"The replay path beside new payments — {label}", fontsize=11)
    return _save(fig, path)


def _dedupe_legend(ax: Axes, loc: Literal["upper left", "lower right", "center left"]) -> None:
    handles, labels = ax.get_legend_handles_labels()
    seen: dict[str, Artist] = {}
    for h, lab in zip(handles, labels, strict=True):
        seen.setdefault(lab, h)
    ax.legend(list(seen.values()), list(seen), fontsize=7, loc=loc)


def _save(fig: Figure, path: Path, bottom: float = 0.0, top: float = 1.0) -> Path:
    """``bottom``/``top``: where the axes end, leaving room for a legend below them and a
    title above."""
    fig.tight_layout(rect=(0.0, bottom, 1.0, top))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
