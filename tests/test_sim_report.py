"""The sim report on synthetic runs (no simulation): the HTML's words, colours and table of
contents, number formats, the partial last bin, which panels and plots a run gets."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from core.checker import PROPERTIES
from reports.sim.capacity import draw_capacity, draw_pressure, knee, levels
from reports.sim.compare import comparison_rows, draw_comparison
from reports.sim.frames import bin_edges, per_second
from reports.sim.numbers import ms, number
from reports.sim.render import scenario_figures, write_report
from reports.sim.scenario_plot import draw_scenario
from reports.sim.sweep import draw_heatmaps, sweep_frame
from reports.sim.verdict_html import STYLE


def _summary(
    scenario: str, variant: str, broken: tuple[str, ...] = (), hold: tuple[str, ...] = PROPERTIES
) -> dict[str, Any]:
    unmet = [f"{p} expected to hold" for p in broken if p in hold]
    return {
        "scenario": scenario,
        "variant": variant,
        "provider": "stripe",
        "seed": 1,
        "requests": 100,
        "provider_charges": 50,
        "properties": {p: "BROKEN" if p in broken else "holds" for p in PROPERTIES},
        "latency_ms": {"p50": 12.345, "p99": 1115.498},
        "throughput_per_s": 24.65,
        "arrivals_s": 20.0,
        "expectation": {"hold": list(hold), "break": [], "met": not unmet, "unmet": unmet},
    }


def _run(summary: dict[str, Any], **arrays: Any) -> SimpleNamespace:
    """A stand-in for ``sim.runner.RunResult`` with what the report reads."""
    fields: dict[str, Any] = {
        "latencies_ms": [100.0, 200.0], "paid_at_ms": [1000, 2000], "final_at_ms": [1100, 2200],
        "arrival_ms": [1000, 2000], "violation_at_ms": [], "fault_windows_s": [],
        "rate_limited_at_ms": [], "queue_at_ms": [250, 500], "queue_depth": [0, 0],
        "load_shape": "steady",
    }  # fmt: skip
    fields.update(arrays)
    return SimpleNamespace(summary=summary, **fields)


def _ramp(variant: str, capacity_per_s: float = 30.0) -> SimpleNamespace:
    """Arrivals ramping 5 → 60/s over 20 s into a FIFO server that pays ``capacity_per_s``."""
    t, arrivals = 0.0, []
    while t < 20.0:
        arrivals.append(t)
        t += 1 / (5 + 55 * t / 20)
    paid, free = [], 0.0
    for a in arrivals:
        free = max(a, free) + 1 / capacity_per_s
        paid.append(free + 0.3)
    arrival_ms = [round(a * 1000) for a in arrivals]
    paid_ms = [round(p * 1000) for p in paid]
    latencies = [float(p - a) for p, a in zip(paid_ms, arrival_ms, strict=True)]
    return _run(_summary("ramp", variant), arrival_ms=arrival_ms, paid_at_ms=paid_ms,
                final_at_ms=paid_ms, latencies_ms=latencies, load_shape="ramp")  # fmt: skip


def test_numbers_read_like_the_terminal() -> None:
    assert ms(12.345) == "12.3 ms"
    assert ms(1115.498) == "1,115 ms"
    assert ms(None) == "-"
    assert number(24.65) == "24.6" or number(24.65) == "24.7"
    assert number(1234) == "1,234"


def test_the_html_has_the_terminals_words_colours_and_a_table_of_contents(
    tmp_path: Path,
) -> None:
    runs = [
        _run(_summary("lost reply", "seed", broken=("E2",))),
        _run(_summary("lost reply", "hardened")),
        _run(_summary("steady", "hardened")),
    ]
    _md, page = write_report(tmp_path, runs, {"steady": "calm"}, {})
    text = page.read_text()
    for anchor in ("scenario-lost-reply", "scenario-steady"):
        assert f'href="#{anchor}"' in text and f'id="{anchor}"' in text
    assert '<td class="failure">BROKEN</td>' in text
    assert '<td class="failure verdict">NOT MET</td>' in text
    assert '<td class="ok verdict">met</td>' in text
    assert ".failure{color:#fff;background:#c62828" in STYLE and STYLE in text
    assert ">yes<" not in text and ">NO<" not in text
    assert "1,115" in text and "1115.498" not in text and "12.3" in text


def test_an_expected_break_is_amber_not_red(tmp_path: Path) -> None:
    summary = _summary("lost_reply", "seed", broken=("E2",), hold=("E1",))
    summary["expectation"]["break"] = ["E2"]
    _md, page = write_report(tmp_path, [_run(summary)], {}, {})
    assert '<td class="expected">BROKEN(exp)</td>' in page.read_text()


def test_a_half_width_last_bin_does_not_show_a_drop() -> None:
    paid_ms = np.arange(0, 20_500, 100)  # 10 paid per second up to 20.5 s
    edges = bin_edges(20.5)
    assert edges[-1] == 20.5 and edges[-2] == 20.0
    rates = per_second(paid_ms, edges)
    assert rates[-1] == pytest.approx(10.0, rel=0.1)
    assert rates[:-1] == pytest.approx(np.full(20, 10.0))


def test_a_whole_last_bin_is_not_an_extra_sliver() -> None:
    edges = bin_edges(20.0)
    assert len(edges) == 21 and np.diff(edges) == pytest.approx(np.ones(20))


def test_a_clean_scenario_gets_no_violations_panel() -> None:
    clean = [_run(_summary("s", "seed")), _run(_summary("s", "hardened"))]
    fig = draw_scenario("s", clean)
    assert [ax.get_title() for ax in fig.axes] == [
        "latency CDF",
        "paid per second (shaded: fault windows)",
    ]
    plt.close(fig)
    dirty = [_run(_summary("s", "seed", broken=("E1",)), violation_at_ms=[(1500, "E1")])]
    fig = draw_scenario("s", dirty)
    assert len(fig.axes) == 3 and "violations" in fig.axes[2].get_title()
    plt.close(fig)


def test_the_ramp_knee_is_where_throughput_stops_following_the_offered_load() -> None:
    run = _ramp("hardened")
    found = knee(levels(run))
    assert found is not None
    assert 24 <= found.rate <= 34  # the server pays 30/s
    fig = draw_capacity("ramp", [run, _ramp("seed")])
    thr, p99 = fig.axes
    assert thr.get_xlabel() == p99.get_xlabel() == "offered load (payments arriving per second)"
    assert thr.get_ylabel() == "paid per second"
    assert p99.get_ylabel().startswith("p99") and p99.get_yscale() == "log"
    assert any("knee" in t.get_text() for t in thr.get_legend().get_texts())
    plt.close(fig)


def test_burst_pressure_shows_429s_and_queue_depth() -> None:
    run = _ramp("hardened")
    run.rate_limited_at_ms = [8100, 8200, 9000]
    run.queue_at_ms, run.queue_depth = [8000, 8250, 8500], [3, 10, 4]
    fig = draw_pressure("burst", [run])
    rejected, queue = fig.axes
    assert rejected.get_title().startswith("provider 429s")
    assert queue.get_ylabel() == "requests waiting for a worker"
    assert max(queue.lines[0].get_ydata()) == 10
    plt.close(fig)


def test_capacity_runs_get_their_plots_on_disk(tmp_path: Path) -> None:
    paths = scenario_figures("ramp", [_ramp("seed"), _ramp("hardened")], tmp_path)
    assert [p.name for p in paths] == ["ramp.png", "ramp-capacity.png", "ramp-pressure.png"]
    assert all(p.stat().st_size > 5_000 for p in paths)
    plain = scenario_figures("calm", [_run(_summary("calm", "seed"))], tmp_path)
    assert [p.name for p in plain] == ["calm.png"]


def test_the_cross_scenario_chart_compares_seed_and_hardened() -> None:
    summaries = [
        _summary("a", "seed", broken=("E1", "E2")),
        {**_summary("a", "seed", broken=("E3",)), "provider": "paypal"},
        _summary("a", "hardened"),
        _summary("b", "seed"),
        _summary("b", "hardened"),
    ]
    rows = comparison_rows(summaries)
    assert rows[("a", "seed")]["broken"] == 3  # union over providers
    assert rows[("a", "hardened")]["broken"] == 0
    fig = draw_comparison(summaries)
    broken, paid, p99 = fig.axes
    assert [t.get_text() for t in broken.get_yticklabels()] == ["a", "b"]
    assert (broken.get_xlabel(), paid.get_xlabel(), p99.get_xlabel()) == (
        "properties", "payments / s", "seconds",
    )  # fmt: skip
    plt.close(fig)


def test_sweep_heatmaps_have_units_and_scales_from_zero() -> None:
    results = [
        {"cell": {"lock_ttl": ttl}, "payments": 10, "violations": v, "violation_rate": v / 10,
         "p50_ms": 400.0, "p99_ms": p99, "paid_per_s": 9.0}
        for ttl, v, p99 in ((1, 2, 900.0), (10, 0, 1200.0))
    ]  # fmt: skip
    frame = sweep_frame(results, ["lock_ttl"])
    assert isinstance(frame, pd.DataFrame)
    fig = draw_heatmaps(frame, ["lock_ttl"], "sweep")
    heat = [ax for ax in fig.axes if ax.images]
    assert [ax.images[0].get_clim()[0] for ax in heat] == [0.0, 0.0]
    assert heat[0].get_xlabel() == "lock_ttl (lock TTL in seconds)"
    bars = [ax.get_ylabel() for ax in fig.axes if not ax.images]
    assert bars == ["violations / payment (scale from 0)", "ms (scale from 0)"]
    plt.close(fig)
