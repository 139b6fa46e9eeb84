"""``payharness bench predict``'s pieces on the live stack with a tiny budget: a calibration
run on a private rig, its fit, one simulated and one live level of the same load. Figures are
printed by the bench, never asserted: only that each piece produces what the next reads."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from live.config import LiveConfig
from tests.live.conftest import _node_problem, _postgres_problem, _redis_problem

pytestmark = [pytest.mark.live, pytest.mark.slow]


def test_a_tiny_calibration_run_fits_and_predicts(tmp_path: Path) -> None:
    from loadtests.bench.phases import RUN_FILE, SAMPLES_FILE, calibration_run
    from loadtests.bench.ramp import one_level
    from loadtests.bench.rig import BenchError, BenchRig
    from loadtests.calibrate import fit, path_costs
    from reports.bench.paths import render_paths
    from sim.calibration import write
    from sim.predict import MIN_PAYMENTS, simulate_level

    cfg = LiveConfig.from_env()
    problem = (
        _redis_problem(cfg.redis_url) or _postgres_problem(cfg.database_url) or _node_problem()
    )
    if problem:
        pytest.skip(problem)
    try:
        rig = BenchRig.open(["bare", "hardened", "floor"], 1, tmp_path, "ptest", lambda _s: None)
    except BenchError as exc:
        pytest.skip(f"the bench rig could not start: {exc}")
    with rig:
        auth = {e: rig.api_key_auth(f"bench{e}-m0") for e in ("hardened", "floor")}
        calibration_run(
            rig, ["bare", "hardened", "floor"], auth, servers=1, rate=10, seconds=1, samples=10,
            out_dir=tmp_path / "calibrate", echo=lambda _s: None,
        )  # fmt: skip
        run = json.loads((tmp_path / "calibrate" / RUN_FILE).read_text())
        paths = {(p["endpoint"], p["path"]): p for p in run["phases"]}
        assert paths[("hardened", "conflict")]["statuses"] == {"422": 10}
        assert paths[("hardened", "replay")]["statuses"] == {"201": 10}
        for layer in ("empty", "auth", "observed", "redis"):  # the HTTP floor, key accepted
            assert paths[("floor", layer)]["statuses"] == {"201": 10}
        assert "; floor R " in render_paths(path_costs(run), {})
        assert (tmp_path / "calibrate" / SAMPLES_FILE).exists()
        cal, _notes = fit(tmp_path / "calibrate")
        assert cal.variants["hardened"]["cpu_ms_new"].value > 0
        path = write(tmp_path / "calibration.toml", cal)
        sim = simulate_level(path, "hardened", 1, 50.0, 2.0, 250.0)
        assert sim.payments == MIN_PAYMENTS, "a level is long enough for a p99"
        args = type("A", (), {"level_seconds": 1.0, "slo_ms": 250.0})()
        level = asyncio.run(
            one_level(rig.groups["hardened"], "benchhardened-m0", 5.0, args, auth["hardened"])
        )
        assert level.sent == 5
