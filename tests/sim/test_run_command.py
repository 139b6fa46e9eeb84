"""``payharness run`` and ``payharness bench``: outputs, exit status, traces."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from payharness.cli import main as cli


def test_run_writes_summary_history_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli(["run", "key_reuse", "--out", str(tmp_path), "--jobs", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "key_reuse" in out and "E6" in out
    assert "E6 violated" in out  # the seed's violation, with its trace
    assert "REQUEST" in out
    summaries = json.loads((tmp_path / "summary.json").read_text())
    assert [(s["variant"], s["provider"]) for s in summaries] == [
        ("seed", "stripe"),
        ("seed", "paypal"),
        ("hardened", "stripe"),
        ("hardened", "paypal"),
    ]
    assert (tmp_path / "key_reuse" / "hardened" / "paypal" / "history.parquet").exists()
    assert summaries[0]["properties"]["E6"] == "BROKEN"
    table = pq.read_table(tmp_path / "key_reuse" / "seed" / "history.parquet")
    assert table.num_rows > 100
    assert {"request", "response", "charge"} <= set(table.column("kind").to_pylist())
    html = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in html and "key_reuse" in html
    assert (tmp_path / "report.md").read_text().count("plots/key_reuse.png") == 1
    assert (tmp_path / "plots" / "key_reuse.png").stat().st_size > 1000


def test_run_exits_1_when_an_expectation_fails(tmp_path: Path) -> None:
    scenario = tmp_path / "wrong.toml"
    scenario.write_text(
        'description = "claims seed breaks E1 in calm weather"\n'
        "[load]\nrate = 5.0\nduration_s = 3\n"
        '[expect.seed]\nbreak = ["E1"]\n[expect.hardened]\nhold = "all"\n'
    )
    code = cli(["run", str(scenario), "--out", str(tmp_path / "out"), "--no-report"])
    assert code == 1
    summaries = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summaries[0]["expectation"]["unmet"] == ["E1 expected to break"]
    assert summaries[2]["expectation"]["met"]  # 0, 1: seed on stripe, paypal


def test_run_refuses_a_broken_scenario_with_its_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "bad.toml"
    scenario.write_text('description = "x"\n[load]\nrate = "fast"\n')
    assert cli(["run", str(scenario), "--out", str(tmp_path)]) == 2
    assert "load.rate" in capsys.readouterr().err


def test_bench_sim_ends_with_the_request_its_floor_and_their_ratio(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import re

    assert cli(["bench", "sim", "--payments", "300", "--json"]) == 0
    out = capsys.readouterr().out
    figures = json.loads(out[out.index("{") :])
    last = out[: out.index("{")].strip().splitlines()[-1]
    match = re.fullmatch(r"per request ([\d.]+) µs, floor ([\d.]+) µs, ratio ([\d.]+)", last)
    assert match, last
    x, y, r = (float(g) for g in match.groups())
    assert r == pytest.approx(x / y, abs=0.01)
    assert x == pytest.approx(1e6 / figures["requests_per_s"], rel=0.01)
    assert (x, y, r) == pytest.approx(
        (figures["us_per_request"], figures["floor_us"], figures["floor_ratio"]), abs=0.06
    )


def test_bench_sim_long_run_checks_a_streamed_history_across_processes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The long run simulates in one process, writes Parquet in another, checks in this one."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the bench keeps its history
    args = ["bench", "sim", "--payments", "200", "--million", "--long-payments", "1500", "--json"]
    assert cli(args) == 0
    out = capsys.readouterr().out
    long = json.loads(out[out.index("{") :])["long"]
    assert long["payments"] == 1500 and long["requests"] >= 3000  # each retried in the settle
    assert long["violations"] == 0 and long["met"]
    peaks = [long[f"{p}_peak_rss_mb"] for p in ("sim", "parquet", "check")]
    assert long["peak_rss_mb"] == max(peaks)  # each process reports its own peak
    parts = long["sim_cpu_s"] + long["parquet_cpu_s"] + long["check_cpu_s"]
    assert abs(long["cpu_s"] - parts) < 0.2  # the parts are all of it (rounded)
    history = pq.read_table(long["history"])
    assert history.num_rows == long["events_recorded"] > 0
    assert Path(long["history"]).is_relative_to(tmp_path)
    assert "simulation process" in out and "Parquet process" in out and "checking process" in out


def test_bench_live_parses_the_bench_options_and_reports_a_rig_failure_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import loadtests.bench as bench

    seen: list[int] = []

    def refuse(options: Any, echo: Any) -> Any:
        seen.append(options.servers)
        raise bench.BenchError("no Redis here")

    monkeypatch.setattr(bench, "run_bench", refuse)
    assert cli(["bench", "live", "--servers", "3"]) == 3
    assert seen == [3]
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["bench live: no Redis here"]
