"""Calibration files (``sim/calibration.py``) through the scenario loader: figures replace
the assumptions, a scenario's own keys win, every figure keeps its source."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.calibration import Calibration, Figure, read, render, write
from sim.scenario import ScenarioError, Topology, load_file

SCENARIO = """
description = "calibrated"
[topology]
calibration = "cal.toml"
servers = 2
stripe_p99_ms = 900.0
[expect.seed]
[expect.hardened]
"""


def _calibration(tmp_path: Path, **topology: float) -> Path:
    figures = {k: Figure(v, f"run1: {k} measured") for k, v in topology.items()}
    cal = Calibration(
        str(tmp_path / "cal.toml"), "out/bench/run1", "2026-12-01T00:00:00Z", figures,
        {"hardened": {"cpu_ms_new": Figure(5.5, "run1: hardened servers' CPU per new payment")}},
    )  # fmt: skip
    return write(tmp_path / "cal.toml", cal, "test")


def test_a_calibration_replaces_the_assumed_figures_and_keeps_their_sources(
    tmp_path: Path,
) -> None:
    _calibration(tmp_path, redis_median_ms=0.2, redis_p99_ms=1.1, stripe_p99_ms=50.0, cores=2)
    (tmp_path / "s.toml").write_text(SCENARIO)
    s = load_file(tmp_path / "s.toml")
    assert s.topology.redis_median_ms == 0.2 and s.topology.redis_p99_ms == 1.1
    assert s.topology.cores == 2
    assert s.topology.stripe_p99_ms == 900.0, "the scenario's own key wins"
    assert s.topology.postgres_median_ms == Topology().postgres_median_ms, "not calibrated"
    assert s.topology.cpu_ms_new == 0.0 and s.topology_for("hardened").cpu_ms_new == 5.5
    assert s.topology_for("seed") is s.topology
    assert s.calibration is not None and s.calibration.run == "out/bench/run1"
    assert s.calibration.sources("hardened")["cpu_ms_new"].startswith("run1: hardened")
    assert s.calibration.sources()["redis_median_ms"] == "run1: redis_median_ms measured"


def test_a_calibration_path_is_relative_to_the_scenario_then_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    _calibration(elsewhere, redis_median_ms=0.2, redis_p99_ms=0.3)
    (tmp_path / "s.toml").write_text(SCENARIO)
    monkeypatch.chdir(elsewhere)
    assert load_file(tmp_path / "s.toml").topology.redis_median_ms == 0.2


def test_the_file_reads_back_as_written(tmp_path: Path) -> None:
    path = _calibration(tmp_path, redis_median_ms=0.25, cores=2)
    cal = read(path)
    assert cal.topology["cores"] == Figure(2, "run1: cores measured")
    assert render(cal, "test") == path.read_text()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[calibration]\nrun = "r"\n[topology]\nservers = { value = 3, source = "x" }\n',
         "not calibratable"),
        ('[calibration]\nrun = "r"\n[topology]\ncores = 2\n', "value = <number>"),
        ('[calibration]\nrun = "r"\n[topology]\ncores = { value = -1, source = "x" }\n',
         "allowed"),
        ('[topology]\ncores = { value = 2, source = "x" }\n', "calibration.run"),
        ('[calibration]\nrun = "r"\n[variants.hardened]\nredis_median_ms = '
         '{ value = 1, source = "x" }\n', "CPU keys only"),
    ],
)  # fmt: skip
def test_a_bad_calibration_is_refused_naming_the_key(
    tmp_path: Path, text: str, problem: str
) -> None:
    (tmp_path / "cal.toml").write_text(text)
    (tmp_path / "s.toml").write_text(SCENARIO)
    with pytest.raises(ScenarioError, match=r"topology\.calibration") as info:
        load_file(tmp_path / "s.toml")
    assert problem in str(info.value)


def test_a_missing_calibration_file_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(SCENARIO)
    with pytest.raises(ScenarioError, match="cannot be read"):
        load_file(tmp_path / "s.toml")


def test_payharness_run_says_which_calibration_it_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from payharness.cli import main

    _calibration(tmp_path, redis_median_ms=0.2, redis_p99_ms=0.3)
    (tmp_path / "s.toml").write_text(
        SCENARIO.replace("[topology]", "[load]\nduration_s = 1\n[topology]")
    )
    code = main([
        "run", str(tmp_path / "s.toml"), "--variant", "hardened", "--provider", "stripe",
        "--out", str(tmp_path / "out"), "--no-report", "--jobs", "1",
    ])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert f"s: calibration {tmp_path / 'cal.toml'} (fitted from out/bench/run1" in out
