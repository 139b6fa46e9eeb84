"""The CPU model (``sim/cpu.py``): a shared core saturates where CPU says it must, and a
topology without CPU figures runs exactly as before the model existed."""

from __future__ import annotations

from typing import Any

from core.history import History
from sim.engine import simulate
from sim.runner import run_scenario, summary_json
from sim.scenario import find, parse


def _scenario(rate: float, **topology: Any) -> Any:
    return parse(
        {
            "description": "CPU-bound servers",
            "seed": 3,
            "settle_s": 0,
            "load": {"arrivals": "uniform", "rate": rate, "duration_s": 10},
            "workload": {"merchants": 1, "decline_rate": 0},
            "client": {"max_attempts": 1, "timeout_ms": 1_000_000},
            "topology": {"servers": 1, "workers": 10_000, "stripe_rate_limit": 1e6,
                         "tail_probability": 0, **topology},
            "expect": {"seed": {}, "hardened": {}},
        },
        "cpu test",
    )  # fmt: skip


def _paid_per_s(rate: float, **topology: Any) -> float:
    world, _ = simulate(
        _scenario(rate, **topology), "hardened", 3, history=History(keep=False),
        record_effects=False,
    )  # fmt: skip
    return sum(1 for t in world.metrics.paid_at_ms if t <= 10_000) / 10


def test_one_core_and_ten_ms_per_payment_saturate_at_a_hundred_per_second() -> None:
    assert 95 <= _paid_per_s(200, cores=1, cpu_ms_new=10.0) <= 100
    assert _paid_per_s(60, cores=1, cpu_ms_new=10.0) >= 55  # under the bound: keeps up


def test_one_server_uses_one_core_however_many_the_machine_has() -> None:
    assert 95 <= _paid_per_s(200, cores=4, cpu_ms_new=10.0) <= 100
    assert _paid_per_s(200, cores=4, server_cores=2, cpu_ms_new=10.0) >= 180


def test_other_processes_and_background_work_take_cores_from_the_servers() -> None:
    # shared CPU of 10 ms beside 10 ms of the server's own on 2 cores: 100/s in all
    assert _paid_per_s(200, cores=2, cpu_ms_new=10.0, shared_cpu_ms_new=10.0) <= 101
    # one CPU-bound job beside the server on the only core: fair turns, about 50/s left
    assert 40 <= _paid_per_s(200, cores=1, cpu_ms_new=10.0, cpu_background=1.0) <= 60
    # a job runnable half the time leaves more than half the core once it must queue
    assert 52 <= _paid_per_s(200, cores=1, cpu_ms_new=10.0, cpu_background=0.5) <= 80


def test_without_cpu_figures_a_run_is_unchanged() -> None:
    scenario = find("lost_reply")
    zero = scenario.with_params({"topology.cores": 2, "topology.cpu_ms_new": 0.0})
    assert zero.topology.cores == 2
    assert summary_json(run_scenario(zero, "hardened").summary) == summary_json(
        run_scenario(scenario, "hardened").summary
    )


def test_a_cpu_run_is_deterministic() -> None:
    s = _scenario(150, cores=2, cpu_ms_new=8.0, shared_cpu_ms_new=3.0, cpu_background=0.3)
    a = run_scenario(s, "hardened", record_effects=False).summary
    b = run_scenario(s, "hardened", record_effects=False).summary
    assert summary_json(a) == summary_json(b)
