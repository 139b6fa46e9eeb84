"""The capacity sweep: the knee search, shared Postgres and Redis capacity, and the report."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.variants import variant_named
from sim import capacity_level, knee
from sim.capacity_plan import Plan, run_plan, scenario_for
from sim.capacity_search import CurveSpec, sweep_curve
from sim.capacity_shared import Queued, SharedServer
from sim.engine import SimWorld
from sim.latency import Sampler
from sim.runner import run_scenario
from sim.scenario import find


@dataclass(frozen=True)
class _Level:
    rate: float
    held: bool
    achieved: float


def _system(capacity: float, rate: float) -> _Level:
    """A synthetic curve: holds up to ``capacity``, answers at most that much."""
    return _Level(rate, rate <= capacity, min(rate, capacity))


def test_the_search_finds_a_synthetic_knee_within_five_percent() -> None:
    levels = [_system(1234.0, 100.0)]
    rate = knee.next_rate(levels, growth=1.3, max_rate=1e6, bisect=10)
    while rate is not None:
        levels.append(_system(1234.0, rate))
        rate = knee.next_rate(levels, growth=1.3, max_rate=1e6, bisect=10)
    found = knee.knee(levels)
    assert found is not None
    assert 1234.0 / 1.05 <= found.achieved <= 1234.0
    assert all(lv.rate <= 1234.0 for lv in levels if lv.held)


def test_the_knee_is_the_highest_throughput_among_levels_that_held() -> None:
    levels = [_Level(100, True, 99), _Level(200, True, 190), _Level(300, False, 250)]
    assert knee.knee(levels) == levels[1]
    assert knee.knee([_Level(100, False, 10)]) is None


def test_a_shared_server_queues_in_arrival_order_on_the_core_free_first() -> None:
    server = SharedServer(cores=2, service_us=100)
    assert [server.wait(0), server.wait(0), server.wait(0), server.wait(250)] == [0, 0, 100, 0]
    assert server.per_s == 20_000
    assert server.busy_us == 400


def test_the_capacity_keys_default_to_no_shared_capacity() -> None:
    """Left out, the new keys build no queue: the latency samplers are the plain ones, so
    every shipped scenario runs exactly as before (the determinism tests pin its output)."""
    scenario = find("steady_state")
    topo = scenario.topology
    assert (topo.postgres_cores, topo.redis_shards) == (0, 0)
    sim = SimWorld(scenario, variant_named("hardened"))
    assert isinstance(sim.backends.pg_latency, Sampler)
    assert isinstance(sim.backends.redis_latency, Sampler)
    zero = scenario.with_params({"topology.postgres_cores": 0, "topology.redis_shards": 0})
    short = {"load.duration_s": 3.0}
    a = run_scenario(scenario.with_params(short), "hardened", record_effects=False).summary
    b = run_scenario(zero.with_params(short), "hardened", record_effects=False).summary
    assert json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


@pytest.fixture()
def short_levels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capacity_level, "TARGET_REQUESTS", 600)
    monkeypatch.setattr(capacity_level, "MIN_S", 0.05)


@pytest.mark.usefixtures("short_levels")
def test_a_small_postgres_caps_payments_near_its_queries_per_second_over_queries_per_payment() -> (
    None
):
    """A Postgres of one core at 1 ms per query serves 1,000 queries/s; a new payment asks 2
    of it, so the knee is near 500 payments/s, where the same servers carry far more with
    the assumed 8-core Postgres."""
    base = scenario_for(Plan(), 2)
    small = base.with_params({"topology.postgres_cores": 1, "topology.postgres_query_ms": 1.0})
    spec = CurveSpec(2, "hardened", "new")
    curve = sweep_curve(small, spec, 250.0, seed=1)
    assert curve.knee is not None
    queries = curve.levels[0].per_payment["postgres_queries"]
    predicted = 1000.0 / queries
    assert queries == pytest.approx(2.0, abs=0.1)
    assert curve.paper_bottleneck == "Postgres"
    assert curve.paper_bound == pytest.approx(predicted, rel=0.05)
    assert 0.8 * predicted <= curve.knee.achieved <= 1.05 * predicted
    assert curve.knee.bottleneck == "Postgres"
    roomy = sweep_curve(base, spec, 250.0, seed=1)
    assert roomy.knee is not None and roomy.knee.achieved > 3 * curve.knee.achieved


CALIBRATION = Path(__file__).resolve().parents[2] / "docs" / "capacity" / "calibration.toml"


@pytest.mark.usefixtures("short_levels")
def test_a_cpu_calibration_puts_each_server_on_a_machine_of_its_own_and_its_cpu_limits_it(
    tmp_path: Path,
) -> None:
    """Calibrated: the file's figures reach the scenario, cores scale with the servers, the
    other processes' CPU is not the gateway's, and a server's loop (1 core over its CPU per
    payment) bounds the knee and is named as the bottleneck. The report names the file and
    its run, marks each figure, and keeps a copy of the file."""
    from reports.capacity.render import label, write_report
    from sim.calibration import read

    calibration = read(CALIBRATION)
    plan = Plan(servers=(2,), paths=("new",), variants=("hardened",), calibration=str(CALIBRATION))
    topo = scenario_for(plan, 2).topology_for("hardened")
    cpu_ms = calibration.variants["hardened"]["cpu_ms_new"].value
    assert topo.cores == 2 * calibration.topology["cores"].value
    assert topo.cpu_ms_new == cpu_ms and topo.shared_cpu_ms_new == 0
    assert topo.cpu_background == 0
    assert topo.stripe_median_ms == calibration.topology["stripe_median_ms"].value
    assert topo.postgres_cores == 8  # assumed: the calibration does not measure it
    curves = run_plan(plan)
    (curve,) = curves
    bound = 2 * 1000.0 / cpu_ms
    assert curve.paper_bottleneck == "server CPU"
    assert curve.paper_bound == pytest.approx(bound, rel=0.05)
    assert curve.knee is not None and curve.knee.bottleneck == "server CPU"
    assert 0.8 * bound <= curve.knee.achieved <= 1.02 * bound
    written = write_report(tmp_path, plan, curves, [], 1.0)
    md = written.markdown.read_text("utf-8")
    assert label(plan) in md and calibration.run in md and calibration.made in md
    assert "| cpu_ms_new (hardened) | " in md and "| calibrated |" in md
    assert "| postgres_query_ms | 0.4 | assumed |" in md
    assert (tmp_path / "calibration.toml").read_text("utf-8") == CALIBRATION.read_text("utf-8")


@pytest.mark.slow
@pytest.mark.usefixtures("short_levels")
def test_a_tiny_capacity_run_writes_the_report_with_a_bottleneck(tmp_path: Path) -> None:
    from reports.capacity.live import LivePoint
    from reports.capacity.render import write_report

    plan = Plan(servers=(1, 2), jobs=1)
    curves = run_plan(plan)
    assert {(c.spec.servers, c.spec.variant, c.spec.path) for c in curves} == {
        (n, v, p) for n in (1, 2) for v in ("seed", "hardened") for p in ("new", "replay")
    }
    for c in curves:
        assert c.knee is not None
        assert c.knee.bottleneck in capacity_level.RESOURCES
    live = [LivePoint(2, "hardened", 200.0, 198.0, 40.0, "payharness bench live")]
    written = write_report(tmp_path, plan, curves, live, 1.0)
    md = written.markdown.read_text("utf-8")
    assert "PREDICTION (simulator, calibration: none, assumed figures)" in md
    assert "Where the bottleneck moves" in md and "hardened, new: 1:" in md
    for name in ("curves.png", "knees.png", "replay.png", "capacity.html", "levels.csv"):
        assert (tmp_path / name).stat().st_size > 0
    assert "data:image/png;base64," in written.html.read_text("utf-8")
    replays = [c for c in curves if c.spec.path == "replay"]  # --paths replay
    assert write_report(tmp_path / "replays", plan, replays, [], 1.0).markdown.exists()


def test_a_bench_live_folder_gives_points_per_variant(tmp_path: Path) -> None:
    from reports.capacity.live import LiveRunError, bench_costs, live_points

    level = {"rate": 100.0, "achieved": 99.0, "p99_ms": 30.0}
    endpoint = {"levels": [level], "cpu_ms_per_payment": {"postgres": 1.4}}
    bench = {
        "servers_per_endpoint": 2,
        "endpoints": {n: endpoint for n in ("bare", "seed", "hardened")},
    }
    (tmp_path / "bench.json").write_text(json.dumps(bench), "utf-8")
    points = live_points(tmp_path)
    assert sorted(p.variant for p in points) == ["hardened", "seed"]  # bare is not a variant
    assert all(p.servers == 2 and p.p99_ms == 30.0 for p in points)
    assert bench_costs(tmp_path)["hardened"] == {"postgres CPU ms": 1.4}
    with pytest.raises(LiveRunError):
        live_points(tmp_path / "nothing")


def test_queued_latency_is_the_wait_then_at_least_the_service() -> None:
    server = SharedServer(cores=1, service_us=50)
    now = [0]
    queued = Queued(lambda: 10, [server], lambda: now[0])  # type: ignore[arg-type]
    assert queued() == 50  # idle: the 10 µs round trip is shorter than the service
    assert queued() == 50 + 50  # queued behind the first
