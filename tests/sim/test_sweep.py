"""Sweeps: parameter parsing, a grid over a process pool, the same grid on a local Dask
cluster, and the heatmap report."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from payharness.cli import main as cli
from sim.scenario import find
from sim.sweep import SweepError, parse_param, run_sweep

FILE = find("server_stall").file


def test_param_aliases_and_dotted_keys() -> None:
    ttl = parse_param("lock_ttl=1,5,10")
    assert ttl.key == "variant.lock_ttl_ms"
    assert [ttl.convert(v) for v in ttl.values] == [1000, 5000, 10000]
    servers = parse_param("topology.servers=2,4")
    assert servers.values == (2, 4)
    with pytest.raises(SweepError, match="unknown"):
        parse_param("colour=1,2")
    with pytest.raises(SweepError, match="NAME=V1,V2"):
        parse_param("lock_ttl")


def test_a_short_lock_ttl_lets_the_zombie_through_on_a_process_pool() -> None:
    axes = [parse_param("lock_ttl=1,30"), parse_param("stripe_p99=6000")]
    results = run_sweep(FILE, "seed", None, axes, jobs=2)
    by_ttl = {r["cell"]["lock_ttl"]: r for r in results}
    assert set(by_ttl) == {1, 30}
    assert all(r["error"] is None for r in results)
    assert by_ttl[1]["violations"] > by_ttl[30]["violations"]
    assert by_ttl[1]["broken"]


def test_a_bad_cell_reports_its_error_instead_of_failing_the_sweep() -> None:
    results = run_sweep(FILE, "seed", None, [parse_param("stripe_p99=1")], jobs=1)
    assert "topology.stripe_p99_ms" in results[0]["error"]


@pytest.mark.skipif(importlib.util.find_spec("distributed") is None, reason="dask not installed")
def test_the_same_grid_runs_on_a_local_dask_cluster() -> None:
    from distributed import LocalCluster

    axes = [parse_param("lock_ttl=1,30"), parse_param("stripe_p99=6000")]
    local = run_sweep(FILE, "seed", None, axes, jobs=1)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:  # fmt: skip
        remote = run_sweep(FILE, "seed", None, axes, dask_address=cluster.scheduler_address)
    assert remote == local


def test_sweep_command_writes_heatmaps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli(["sweep", "server_stall", "--param", "lock_ttl=1,30", "--param",
                "stripe_p99=3000,6000", "--jobs", "2", "--out", str(tmp_path)])  # fmt: skip
    assert code == 0
    assert (tmp_path / "sweep.png").stat().st_size > 1000
    assert "data:image/png;base64," in (tmp_path / "sweep.html").read_text()
    assert "lock_ttl" in (tmp_path / "sweep.csv").read_text()
    assert "4 cells on a process pool" in capsys.readouterr().out
