"""``payharness calibrate``: fitting a synthetic run folder (known samples, known CPU), the
Prometheus histogram fit, and the predicted-vs-measured table's last line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loadtests.bench.phases import RUN_FILE, SAMPLES_FILE
from loadtests.calibrate import CalibrateError, fit, histogram_quantiles, path_costs
from payharness.cli import main
from reports.bench.paths import floor_line, floor_ratio, render_paths, replay_ratio
from reports.bench.predict import render_predict
from sim.calibration import write
from sim.scenario import parse


def _phase(endpoint: str, path: str, cpu: dict[str, float], rt: dict[str, float]) -> dict:
    return {
        "endpoint": endpoint, "path": path, "requests": 105, "warmup_new_payments": 5,
        "statuses": {"201": 100}, "wall_s": 5.0, "window_s": 6.0, "machine_busy_s": 3.0,
        "cpu_s": cpu, "round_trips": rt,
    }  # fmt: skip


def _run_folder(tmp_path: Path) -> Path:
    samples = {
        "redis": [float(i) / 100 for i in range(1, 101)],  # 0.01 .. 1.00 ms
        "postgres": [2.0] * 98 + [10.0, 40.0],
        "provider": [50.0] * 98 + [60.0, 2000.0],
    }
    (tmp_path / SAMPLES_FILE).write_text(json.dumps(samples))
    new = {"servers": 0.525, "mock": 0.105, "redis": 0.021, "postgres": 0.105, "generator": 0.0525}
    # replay window: 5 warm-up new payments (5 ms servers each) + 100 replays at 1 ms
    replay = {"servers": 0.025 + 0.1, "mock": 0.005, "redis": 0.001 + 0.01, "postgres": 0.005,
              "generator": 0.0025 + 0.05}  # fmt: skip
    run = {
        "made": "2026-12-01T00:00:00Z",
        "machine": {"cpus": 2},
        "pools": {"hardened": {"pool_max": 7}},
        "background_probe": {"spinners": 3, "seconds": 1.0, "core_share": [0.4, 0.5, 0.9]},
        "phases": [
            _phase("bare", "new", {"servers": 0.42, "mock": 0.105}, {}),
            _phase("hardened", "new", new, {"redis": 210.0, "postgres": 315.0}),
            _phase("hardened", "replay", replay, {"redis": 110.0, "postgres": 115.0}),
        ],
    }
    (tmp_path / RUN_FILE).write_text(json.dumps(run))
    return tmp_path


def test_the_fit_takes_medians_and_p99s_of_the_samples_and_cpu_per_path(tmp_path: Path) -> None:
    cal, notes = fit(_run_folder(tmp_path))
    t = {k: f.value for k, f in cal.topology.items()}
    assert t["redis_median_ms"] == 0.5 and t["redis_p99_ms"] == 0.99
    assert t["postgres_median_ms"] == 2.0 and t["postgres_p99_ms"] == 10.0
    assert t["stripe_median_ms"] == 50.0 and t["stripe_p99_ms"] == 60.0
    # each component's own tail: samples beyond twice its p99
    assert t["stripe_tail_probability"] == 0.01 and t["stripe_tail_factor"] == 40.0
    assert t["postgres_tail_probability"] == 0.01 and t["postgres_tail_factor"] == 20.0
    assert t["redis_tail_probability"] == 0.0 and t["redis_tail_factor"] == 1.0
    assert "tail_probability" not in t
    assert t["cores"] == 2 and t["pg_pool"] == 7
    # 3 spinners got half a core each (median) of 2 cores: 2 / 0.5 - 3 = 1 other process
    assert t["cpu_background"] == 1.0
    hardened = {k: f.value for k, f in cal.variants["hardened"].items()}
    assert hardened["cpu_ms_new"] == pytest.approx(5.0)
    assert hardened["cpu_ms_replay"] == pytest.approx(1.0), "warm-up payments taken out"
    assert hardened["shared_cpu_ms_replay"] == pytest.approx(0.1 + 0.5)
    for figure in [*cal.topology.values(), *cal.variants["hardened"].values()]:
        assert str(tmp_path) in figure.source
    assert notes == []
    costs = {
        (c["endpoint"], c["path"]): c
        for c in path_costs(json.loads((tmp_path / RUN_FILE).read_text()))
    }
    assert costs[("hardened", "replay")]["round_trips"] == pytest.approx(
        {"redis": 1.0, "postgres": 1.0}
    )


def test_a_fitted_calibration_loads_into_a_scenario(tmp_path: Path) -> None:
    cal, _ = fit(_run_folder(tmp_path))
    path = write(tmp_path / "calibration.toml", cal)
    doc = {"description": "x", "topology": {"calibration": str(path)},
           "expect": {"seed": {}, "hardened": {}}}  # fmt: skip
    s = parse(doc, str(tmp_path / "s.toml"))
    assert s.topology.stripe_median_ms == 50.0
    assert s.topology_for("hardened").cpu_ms_replay == pytest.approx(1.0)


def test_histograms_of_a_prometheus_scrape_give_median_and_p99() -> None:
    text = "\n".join(
        [
            "# TYPE payharness_effect_duration_seconds histogram",
            *(
                f'payharness_effect_duration_seconds_bucket{{component="redis",effect="x",'
                f'le="{le}"}} {n}'
                for le, n in (("0.001", 50), ("0.002", 99), ("0.01", 100), ("+Inf", 100))
            ),
            'payharness_effect_duration_seconds_count{component="redis",effect="x"} 100',
            'payharness_effect_duration_seconds_sum{component="redis",effect="x"} 0.1',
        ]
    )
    median, p99, count = histogram_quantiles(text, "payharness_effect_duration_seconds")["redis"]
    assert median == pytest.approx(1.0) and p99 == pytest.approx(2.0) and count == 100


def test_calibrate_writes_the_file_and_prints_the_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calibrate", str(_run_folder(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "calibration.toml").exists()
    assert "replay/bare CPU" in out and f"calibration: {tmp_path}" in out


def test_calibrate_refuses_an_empty_folder_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calibrate", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nothing to fit" in err
    with pytest.raises(CalibrateError):
        fit(tmp_path / "missing")


def test_the_floor_line_stands_before_the_replay_ratio() -> None:
    def cost(endpoint: str, path: str, servers: float, **more: float) -> dict[str, Any]:
        cpu = {"servers": servers, "generator": 0.5, **more}
        return {"endpoint": endpoint, "path": path, "requests": 1, "statuses": {},
                "cpu_ms": cpu, "round_trips": {}}  # fmt: skip

    costs = [
        cost("bare", "new", 4.0, mock=1.0),
        cost("hardened", "replay", 2.0, redis=0.2, postgres=0.1),
        cost("floor", "empty", 0.5),
        cost("floor", "auth", 0.9, postgres=0.1),
        cost("floor", "observed", 1.2, postgres=0.1),
        cost("floor", "redis", 1.0, postgres=0.1, redis=0.15),
    ]
    assert floor_ratio(costs) == pytest.approx(0.25)
    lines = render_paths(costs, {}).rstrip().splitlines()
    assert lines[-2] == (
        "HTTP floor: empty route 0.50 ms, + auth 1.00 ms, + metrics/log 1.30 ms, "
        "auth + Redis GET 1.25 ms; floor R 0.25"
    )
    assert lines[-1] == "replay/bare CPU 0.46 (target <= 0.25: NOT met)"
    assert floor_line(costs[:2]) is None


def test_the_replay_ratio_and_the_prediction_table() -> None:
    costs = [
        {"endpoint": "bare", "path": "new", "requests": 1, "statuses": {},
         "cpu_ms": {"servers": 4.0, "mock": 1.0}, "round_trips": {}},
        {"endpoint": "hardened", "path": "replay", "requests": 1, "statuses": {},
         "cpu_ms": {"servers": 1.0, "redis": 0.2, "generator": 0.5}, "round_trips": {}},
    ]  # fmt: skip
    assert replay_ratio(costs) == pytest.approx(0.24)
    last = render_paths(costs, {}).rstrip().splitlines()[-1]
    assert last == "replay/bare CPU 0.24 (target <= 0.25: met)"
    row = {"variant": "hardened", "servers": 1, "knee_predicted": 110.0,
           "knee_measured": 100.0, "knee_measured_bracketed": True, "half_rate": 55.0,
           "p50_predicted": 20.0,
           "p99_predicted": 60.0, "p50_measured": 22.0, "p99_measured": 50.0,
           "send_lag_p99_measured": 3.0,
           "sim_trials": 9, "live_trials": 6}  # fmt: skip
    summary = {"run": "r", "calibration": "c", "slo_ms": 250.0, "wall_s": 1.0,
               "rows": [row, {**row, "servers": 2, "knee_measured": 125.0}],
               "path_costs": costs, "floors": {}}  # fmt: skip
    text = render_predict(summary)
    assert "| hardened | 1 | 110.0 | 100.0 | +10 % |" in text and "+20 %" in text
    assert text.rstrip().splitlines()[-1] == "max knee error 12 %"
    unbracketed = {**row, "knee_measured_bracketed": False}
    open_ended = render_predict({**summary, "rows": [unbracketed]})
    assert "| >= 100.0 | +10 % (bound) |" in open_ended and "a lower bound" in open_ended
