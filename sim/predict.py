"""Bench predict's prediction: the simulator's knee for new payments (the highest rate whose
p99 stays under the SLO) with a calibration's figures, a scenario per level.

The knee search is ``sim.knee.search``, the one every knee uses; here it starts low, goes up
by ``growth`` while levels hold and down while they fail, and bisects. The live side
(``loadtests.bench.predict``) runs the same search on the live stack, so a predicted and a
measured knee come from the same steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.history import History
from sim.knee import Knee, search


@dataclass(frozen=True, slots=True)
class Trial:
    rate: float
    payments: int
    paid: int
    p50_ms: float
    p99_ms: float
    held: bool
    send_lag_p99_ms: float = 0.0
    """Live only: how late the generator sent (the simulator's clients are never late)."""


CLOSE = 1.03
"""Bench predict's knees stop bisecting when the rates that held and failed are this close."""


def judge(rate: float, payments: int, paid: int, latencies_ms: list[float], slo_ms: float) -> Trial:
    """A level held when its p99 is under the SLO and at least 99 % of its payments were
    paid (the live bench's rule, less its generator-side ones)."""
    ordered = sorted(latencies_ms)
    if not ordered or paid < 0.99 * payments:
        p50 = ordered[len(ordered) // 2] if ordered else float("inf")
        return Trial(rate, payments, paid, p50, float("inf"), False)
    p50 = ordered[min(len(ordered) - 1, int(0.5 * len(ordered)))]
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return Trial(rate, payments, paid, p50, p99, p99 < slo_ms)


def capacity_scenario(
    calibration: Path, servers: int, rate: float, seconds: float
) -> dict[str, Any]:
    """A scenario document for one level of the live bench's load: ``rate`` new payments/s,
    evenly spaced, one merchant, every card accepted, no client retry, on ``servers`` servers
    with the calibration's figures."""
    return {
        "description": "one level of payharness bench predict: new payments at a fixed rate",
        "seed": 1,
        "settle_s": 0.0,
        "load": {"arrivals": "uniform", "rate": rate, "duration_s": seconds},
        "workload": {"merchants": 1, "decline_rate": 0.0},
        "client": {"max_attempts": 1, "timeout_ms": 10_000},
        "topology": {
            "servers": servers,
            "balancer": "round_robin",
            "calibration": str(calibration.resolve()),
        },
        "expect": {"seed": {}, "hardened": {}},
    }


MIN_PAYMENTS = 1500
"""A simulated level lasts long enough for this many payments: a p99 of 20 is their worst,
and with a 1 % tail of 300 ms (the mock's, on a busy machine) a p99 of 400 flips between
the body and the tail from one seed to the next."""


def simulate_level(
    calibration: Path, variant: str, servers: int, rate: float, seconds: float, slo_ms: float
) -> Trial:
    """One level in the simulator (at least ``MIN_PAYMENTS`` long): the payments'
    first-send-to-answer latencies, judged."""
    from sim.engine import simulate
    from sim.scenario import parse

    seconds = max(seconds, MIN_PAYMENTS / rate)
    scenario = parse(capacity_scenario(calibration, servers, rate, seconds), "bench predict")
    world, _wall = simulate(
        scenario, variant, scenario.seed, history=History(keep=False), record_effects=False
    )
    m = world.metrics
    return judge(rate, m.payments, m.paid, list(m.latencies_ms), slo_ms)


def predict(
    calibration: Path,
    variant: str,
    servers: int,
    *,
    slo_ms: float = 250.0,
    seconds: float = 8.0,
    start: float = 10.0,
) -> tuple[Knee[Trial], Trial]:
    """The simulator's knee for ``variant`` on ``servers`` servers, and its level at half the
    knee (p50/p99 there)."""
    knee = search(
        lambda r: simulate_level(calibration, variant, servers, r, seconds, slo_ms),
        start,
        growth=1.3,
        bisect=5,
        max_levels=30,
        close=CLOSE,
    )
    half = simulate_level(calibration, variant, servers, knee.rate / 2 or 1.0, seconds, slo_ms)
    return knee, half
