"""The knee: the highest rate of new payments whose p99 stays under the SLO, found by one
search used alike on the simulator (``predict``) and on the live stack
(``loadtests.bench.predict``), so a predicted and a measured knee come from the same steps.

The search offers ``start``; while levels hold it goes up by ``growth``, while they fail it
goes down by it; once it has a rate that held below one that failed it bisects between them
(geometrically) ``bisect`` times. The knee is the highest offered rate that held.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.history import History


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


@dataclass(slots=True)
class Knee:
    rate: float
    """The highest offered rate that held (0 when none did)."""
    trials: list[Trial] = field(default_factory=list)
    bracketed: bool = False
    """A rate above the knee failed: else the search ran out of steps still holding, and
    ``rate`` is only a lower bound."""


def find_knee(
    evaluate: Callable[[float], Trial],
    start: float,
    *,
    growth: float = 1.3,
    bisect: int = 3,
    max_steps: int = 12,
    confirm_failures: bool = False,
) -> Knee:
    """Search the knee with ``evaluate(rate)`` in at most ``max_steps`` rates;
    ``confirm_failures`` offers a failing rate once more before it counts (a shared machine's
    pause can spoil one live level)."""
    knee = Knee(0.0)
    held: list[float] = []
    failed: list[float] = []
    rate, bisections = start, 0
    for _ in range(max_steps):
        trial = evaluate(rate)
        if not trial.held and confirm_failures:
            knee.trials.append(trial)
            trial = evaluate(rate)
        knee.trials.append(trial)
        (held if trial.held else failed).append(rate)
        if not held:
            rate /= growth
            continue
        above = [r for r in failed if r > max(held)]
        if not above:
            rate *= growth
            continue
        lo, hi = max(held), min(above)
        if bisections >= bisect or hi <= lo * 1.03:
            break
        bisections += 1
        rate = math.sqrt(lo * hi)
    knee.rate = max(held, default=0.0)
    knee.bracketed = bool(held) and any(r > knee.rate for r in failed)
    return knee


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
) -> tuple[Knee, Trial]:
    """The simulator's knee for ``variant`` on ``servers`` servers, and its level at half the
    knee (p50/p99 there)."""
    knee = find_knee(
        lambda r: simulate_level(calibration, variant, servers, r, seconds, slo_ms),
        start,
        growth=1.3,
        bisect=5,
        max_steps=30,
    )
    half = simulate_level(calibration, variant, servers, knee.rate / 2 or 1.0, seconds, slo_ms)
    return knee, half
