"""What a capacity planner reads off a run whose offered load changes (a ramp, a burst):
throughput and p99 against the offered rate with the knee marked, and the provider's 429s
and the worker queues over time.

Each stretch of the load phase is one level (two seconds on a ramp, one under bursts), as
``payharness bench live`` offers levels (``loadtests.bench.ramp``): offered = arrivals per
second, achieved = payments answered 'paid' per second, p99 over the payments first sent in
it. A ramp's levels are two seconds, not one: a one-second level of a 30/s ramp holds ~30
payments, and their noise alone moved the knee by a quarter. Under bursts a level is one
second, so none straddles a burst's edge (bursts start on whole seconds); the points are not
joined there, since a quiet second after a burst pays the backlog and sits far above the
diagonal. The knee is the highest offered rate whose level still kept up (``keeps_up``: at
least 90 % of it paid). The live 250 ms p99 SLO is not part of the rule here: the simulated
Stripe alone has a 1.5 s p99 (``sim.scenario.Topology``), so p99 is drawn beside the knee,
not judged."""

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

from loadtests.bench.ramp import Level, keeps_up
from reports.sim.frames import bin_edges, per_second, started_at_ms
from reports.sim.numbers import ms, number
from reports.sim.plot_style import OFFERED, finish, label, plain_log, style
from reports.sim.scenario_plot import save
from sim import knee as sim_knee

LEVEL_S = {"ramp": 2.0, "bursts": 1.0}


def level_s(run: Any) -> float:
    return LEVEL_S.get(run.load_shape, 1.0)


def levels(run: Any) -> list[Level]:
    """One ``Level`` per bin of the load phase (a bin nobody was offered in is left out)."""
    bucket_s = level_s(run)
    edges = bin_edges(run.summary["arrivals_s"], bucket_s)
    offered = per_second(run.arrival_ms, edges)
    achieved = per_second(run.paid_at_ms, edges)
    arrived = np.histogram(np.asarray(run.arrival_ms, dtype="float64") / 1000, bins=edges)[0]
    paid = np.histogram(np.asarray(run.paid_at_ms, dtype="float64") / 1000, bins=edges)[0]
    started = started_at_ms(run.latencies_ms, run.final_at_ms) / 1000
    latency = np.asarray(run.latencies_ms, dtype="float64")
    which = np.clip(np.searchsorted(edges, started, side="right") - 1, 0, len(edges) - 2)
    out = []
    for i in range(len(edges) - 1):
        if arrived[i] == 0:
            continue
        mine = latency[which == i]
        p50, p99 = np.quantile(mine, [0.5, 0.99]) if len(mine) else (np.nan, np.nan)
        rate, got = float(offered[i]), float(achieved[i])
        level = Level(rate, int(arrived[i]), int(paid[i]), 0, got, float(p50), float(p99),
                      keeps_up(rate, got))  # fmt: skip
        out.append(level)
    return out


def knee(found: Sequence[Level]) -> Level | None:
    """The knee of a run's levels, by the rule the live ramp and the capacity sweep use
    (``sim.knee.knee``: the most paid/s among the levels that kept up)."""
    return sim_knee.knee(found)


def is_capacity_run(run: Any) -> bool:
    """A run whose offered load changes and that no fault disturbs: its curve is capacity."""
    return run.load_shape != "steady" and not run.fault_windows_s


def capacity_figure(scenario: str, runs: Sequence[Any], path: Path) -> Path:
    return save(draw_capacity(scenario, runs), path)


def draw_capacity(scenario: str, runs: Sequence[Any]) -> Figure:
    """Left: paid/s against offered/s (the diagonal is 'keeps up'); right: p99 against
    offered/s. A dotted vertical line per run at its knee."""
    fig, (ax_thr, ax_p99) = plt.subplots(1, 2, figsize=(13, 4.8), layout="constrained")
    top = 1.0
    for r in runs:
        found = sorted(levels(r), key=lambda lv: lv.rate)
        if not found:
            continue
        k = knee(found)
        rates = [lv.rate for lv in found]
        top = max(top, *rates, *(lv.achieved for lv in found))
        name = label(r, runs)
        where = (
            f"knee {number(k.rate)}/s offered, {number(k.achieved)} paid/s, p99 {ms(k.p99_ms)}"
            if k is not None else "never kept up"
        )  # fmt: skip
        st = style(r)
        line = {"marker": "o", "markersize": 3 if r.load_shape == "ramp" else 5,
                "linewidth": 1 if r.load_shape == "ramp" else 0, **st}  # fmt: skip
        ax_thr.plot(rates, [lv.achieved for lv in found], label=f"{name}: {where}", **line)
        ax_p99.plot(rates, [lv.p99_ms for lv in found], label=name, **line)
        if k is not None:
            for ax, value in ((ax_thr, k.achieved), (ax_p99, k.p99_ms)):
                ax.axvline(k.rate, color=st["color"], linestyle=":", linewidth=1.5)
                ax.plot([k.rate], [value], marker="o", markersize=11, fillstyle="none",
                        color=st["color"], linestyle="none")  # fmt: skip
    ax_thr.plot([0, top], [0, top], color=OFFERED, linewidth=1, label="paid = offered")
    ax_thr.set_xlim(0, top * 1.05)
    ax_thr.set_ylim(0, top * 1.05)
    _axes(ax_thr, "paid per second", "throughput vs offered load (dotted: knee)")
    ax_p99.set_yscale("log")
    plain_log(ax_p99.yaxis)
    ax_p99.set_xlim(0, top * 1.05)
    _axes(ax_p99, "p99, first send → final answer (ms, log)", "p99 vs offered load")
    width = ", ".join(sorted({f"{level_s(r):g} s" for r in runs}))
    fig.suptitle(f"{scenario}: capacity (a point per {width} of load; knee circled)")
    return fig


def _axes(ax: Axes, ylabel: str, title: str) -> None:
    finish(ax, "offered load (payments arriving per second)", ylabel, title, ncol=1)


def pressure_figure(scenario: str, runs: Sequence[Any], path: Path) -> Path:
    return save(draw_pressure(scenario, runs), path)


def draw_pressure(scenario: str, runs: Sequence[Any], bucket_s: float = 1.0) -> Figure:
    """The provider's 429s per second with the offered load behind them, and the requests
    waiting for a worker (summed over the servers). A capacity run gets both panels, saying
    so when one stayed at zero; any other run only the panels with something in them."""
    capacity = any(is_capacity_run(r) for r in runs)
    rejected = any(len(r.rate_limited_at_ms) for r in runs)
    queued = any(any(r.queue_depth) for r in runs)
    panels = [p for p, show in (("429", capacity or rejected), ("queue", capacity or queued))
              if show] or ["429"]  # fmt: skip
    fig, axes = plt.subplots(
        1, len(panels), figsize=(6.5 * len(panels), 4.6), layout="constrained", squeeze=False
    )
    edges = bin_edges(runs[0].summary["arrivals_s"] if runs else 0.0, bucket_s)
    for ax, panel in zip(axes[0], panels, strict=True):
        if panel == "429":
            _rejections(ax, runs, edges, rejected)
        else:
            _queues(ax, runs, queued)
        ax.set_xlim(0, edges[-1])
        ax.set_ylim(bottom=0)
    fig.suptitle(f"{scenario}: rate limit and queueing")
    return fig


def _rejections(ax: Axes, runs: Sequence[Any], edges: np.ndarray, any_429: bool) -> None:
    if runs:
        ax.stairs(per_second(runs[0].arrival_ms, edges), edges, color=OFFERED,
                  fill=True, alpha=0.25, label="offered (arrivals/s)")  # fmt: skip
    for r in runs:
        ax.stairs(per_second(r.rate_limited_at_ms, edges), edges,
                  label=f"{label(r, runs)}: provider 429s/s", **style(r))  # fmt: skip
    if not any_429:
        _note(ax, "no 429 from the provider in any run")
    finish(ax, "simulated time (s)", "per second", "provider 429s (rate limit) and offered load")


def _queues(ax: Axes, runs: Sequence[Any], any_queue: bool) -> None:
    for r in runs:
        t = np.asarray(r.queue_at_ms, dtype="float64") / 1000
        ax.step(t, np.asarray(r.queue_depth), where="post", label=label(r, runs), **style(r))
    if not any_queue:
        _note(ax, "no request waited for a worker")
    finish(ax, "simulated time (s)", "requests waiting for a worker",
           "worker queue depth (all servers, sampled every 0.25 s)")  # fmt: skip


def _note(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.55, text, transform=ax.transAxes, ha="center", fontsize=11, color="#555555",
            bbox={"facecolor": "white", "edgecolor": "#bbbbbb"})  # fmt: skip
