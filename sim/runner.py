"""Run one scenario for one variant and seed, judge it with the core's checker, summarise.

The summary is a plain, sorted, JSON-ready dict holding only simulated quantities (no wall
time), so the same scenario, variant and seed give a byte-identical summary.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.checker import PROPERTIES, TITLES, Verdict, check
from core.history import FinalState, History
from core.models.clock import ModelClock
from core.runtime.world import World
from core.variants import Variant, variant_named
from sim.engine import simulate
from sim.final_state_io import read_final_state
from sim.isolated import EVENTS_FILE, EventsOnDisk, simulate_apart
from sim.metrics import Metrics
from sim.scenario import Scenario


@dataclass(slots=True)
class RunResult:
    """A judged run: the summary (deterministic) plus what the report plots."""

    summary: dict[str, Any]
    verdict: Verdict
    latencies_ms: Sequence[float] = field(default_factory=list)
    paid_at_ms: Sequence[int] = field(default_factory=list)
    violation_at_ms: list[tuple[int, str]] = field(default_factory=list)
    fault_windows_s: list[tuple[float, float, str]] = field(default_factory=list)
    arrival_ms: Sequence[int] = field(default_factory=list)
    """When each payment arrived: the offered load."""
    final_at_ms: Sequence[int] = field(default_factory=list)
    """When each of ``latencies_ms``'s payments got its final answer (same order)."""
    rate_limited_at_ms: Sequence[int] = field(default_factory=list)
    queue_at_ms: Sequence[int] = field(default_factory=list)
    queue_depth: Sequence[int] = field(default_factory=list)
    load_shape: str = "steady"
    """How the arrival rate moves: ``ramp``, ``bursts`` or ``steady`` (the report draws a
    capacity curve for the first two)."""
    history_path: str | None = None
    events: int = 0
    sim_wall_s: float = 0.0
    check_wall_s: float = 0.0
    sim_peak_rss_mb: float | None = None
    """A streamed run's simulation process's peak RSS (it simulates in a process of its own)."""
    sim_cpu_s: float | None = None
    """A streamed run's simulation process's CPU seconds."""
    parquet_cpu_s: float | None = None
    """A streamed run's CPU seconds spent writing the Parquet history (a process of its own)."""
    parquet_peak_rss_mb: float | None = None
    """A streamed run's Parquet-writing process's peak RSS."""

    @property
    def met(self) -> bool:
        return bool(self.summary["expectation"]["met"])


def quantile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile by nearest rank (deterministic, no interpolation)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return round(ordered[rank - 1], 3)


def run_scenario(
    scenario: Scenario,
    variant_name: str,
    seed: int | None = None,
    *,
    history_path: str | Path | None = None,
    stream: bool = False,
    record_effects: bool = True,
    max_traces: int = 3,
    world_factory: Callable[[Variant, ModelClock, History], World] | None = None,
    progress: Callable[[Metrics], None] | None = None,
    provider: str = "stripe",
) -> RunResult:
    """Simulate, then check. With ``stream`` (a long run) the world runs in a process of its
    own (``sim.isolated``), the history goes to ``history_path`` (Parquet) and the checker
    reads history and final state from disk; otherwise the history is kept in memory and
    written at the end when a path is given."""
    seed = scenario.seed if seed is None else seed
    if stream:
        if provider != "stripe":
            raise ValueError("stream=True runs Stripe only (sim.isolated has no provider yet)")
        if history_path is None:
            raise ValueError("stream=True needs a history_path")
        return _run_streamed(
            scenario, variant_name, seed, Path(history_path), record_effects, max_traces,
            world_factory, progress,
        )  # fmt: skip
    history = History()
    sim, sim_wall = simulate(
        scenario, variant_name, seed, history=history, record_effects=record_effects,
        world_factory=world_factory, progress=progress, provider=provider,
    )  # fmt: skip
    if history_path is not None:
        from sim.history_io import write as write_parquet  # pyarrow only when it is needed

        write_parquet(history.events, history_path)
    started = time.perf_counter()
    final = sim.world.final_state()
    verdict = check(history.events, final, eventual=True, max_traces=max_traces)
    result = _judged(
        scenario, sim.metrics, sim.variant.name, seed, verdict, len(history.events),
        history_path, final, provider,
    )  # fmt: skip
    result.sim_wall_s = sim_wall
    result.check_wall_s = time.perf_counter() - started
    return result


def _run_streamed(
    scenario: Scenario,
    variant_name: str,
    seed: int,
    history_path: Path,
    record_effects: bool,
    max_traces: int,
    world_factory: Callable[[Variant, ModelClock, History], World] | None,
    progress: Callable[[Metrics], None] | None,
) -> RunResult:
    """A long run: simulated in a process of its own and its history turned into Parquet in
    another (``sim.isolated``); judged here from the chunk files they leave."""
    variant_named(variant_name)  # an unknown variant fails here, before a process starts
    with tempfile.TemporaryDirectory(prefix="payharness-final-") as tmp:
        final_path = Path(tmp) / "final-state"
        simulated = simulate_apart(
            scenario,
            variant_name,
            seed,
            history_path=history_path,
            final_path=final_path,
            record_effects=record_effects,
            world_factory=world_factory,
            progress=progress,
        )
        started = time.perf_counter()
        # Lazily: the rows stay in the folder until the checker's per-key tables are gone.
        final = read_final_state(final_path, lazy=True)
        events = EventsOnDisk(final_path / EVENTS_FILE)  # the same events as the Parquet file
        verdict = check(events, final, eventual=True, max_traces=max_traces)
        result = _judged(
            scenario, simulated.metrics, variant_name, seed, verdict, simulated.events,
            history_path, final,
        )  # fmt: skip
    result.sim_wall_s = simulated.sim_wall_s
    result.check_wall_s = time.perf_counter() - started
    result.sim_peak_rss_mb = simulated.peak_rss_mb
    result.sim_cpu_s = simulated.cpu_s
    result.parquet_cpu_s = simulated.parquet_cpu_s
    result.parquet_peak_rss_mb = simulated.parquet_peak_rss_mb
    return result


def _judged(
    scenario: Scenario,
    m: Metrics,
    variant: str,
    seed: int,
    verdict: Verdict,
    count: int,
    history_path: str | Path | None,
    final: FinalState,
    provider: str = "stripe",
) -> RunResult:
    holds = {p: verdict.holds(p) for p in PROPERTIES}
    expectation = scenario.expectation(variant, provider)
    met = expectation.met(holds)
    arrivals_s = scenario.load.duration_s
    paid_in_window = sum(1 for t in m.paid_at_ms if t <= arrivals_s * 1000)
    violation_times: list[tuple[int, str]] = []
    key_orders = _orders_of_keys(final, {k for v in verdict.violations for k in v.keys})
    for v in verdict.violations:
        orders = [o for _m, o in v.orders]
        orders += [key_orders[k] for k in v.keys if k in key_orders]
        times = [m.arrival_ms[int(o[1:]) - 1] for o in orders if o[1:].isdigit()]
        violation_times.append((min(times) if times else m.load_end_ms, v.prop))
    summary: dict[str, Any] = {
        "scenario": scenario.name,
        "variant": variant,
        "provider": provider,
        "seed": seed,
        "payments": m.payments,
        "requests": m.attempts,
        "keys": verdict.counts.get("keys", 0),
        "provider_charges": verdict.counts.get("provider_charges", 0),
        "successful_charges": verdict.counts.get("successful_charges", 0),
        "paid": m.paid,
        "failed": m.failed,
        "gave_up": m.gave_up,
        "timeouts": m.timeouts,
        "double_submits": m.double_submits,
        "pay_again": m.pay_again,
        "events": count,
        "properties": {
            p: ("holds" if h else "BROKEN" if h is False else "not checked")
            for p, h in holds.items()
        },
        "violations": len(verdict.violations) + verdict.untraced,
        "violation_messages": [f"{v.prop}: {v.message}" for v in verdict.violations],
        "latency_ms": {
            "p50": quantile(m.latencies_ms, 0.50),
            "p99": quantile(m.latencies_ms, 0.99),
        },
        "throughput_per_s": round(paid_in_window / arrivals_s, 3),
        "arrivals_s": arrivals_s,
        "load_s": round(m.load_end_ms / 1000, 3),
        "sim_end_s": round(m.end_ms / 1000, 3),
        "expectation": {
            "hold": list(expectation.hold),
            "break": list(expectation.broken),
            "met": met,
            "unmet": expectation.unmet({p: int(h is False) for p, h in holds.items()}, 1),
        },
    }
    windows = []
    for spec in scenario.faults:
        start, end = spec.window(scenario.load.duration_s)
        label = str(spec.kind)
        if spec.probability is not None:
            label += f" p={spec.probability:g}"
            if spec.duration_s is None and start == 0:
                end = start = -1.0  # all run long: named in the legend, not shaded
        windows.append((start, end, label))
    return RunResult(
        summary=summary,
        verdict=verdict,
        latencies_ms=m.latencies_ms,
        paid_at_ms=m.paid_at_ms,
        violation_at_ms=violation_times,
        fault_windows_s=windows,
        arrival_ms=m.arrival_ms,
        final_at_ms=m.final_at_ms,
        rate_limited_at_ms=m.rate_limited_at_ms,
        queue_at_ms=m.queue_at_ms,
        queue_depth=m.queue_depth,
        load_shape=_load_shape(scenario),
        history_path=str(history_path) if history_path is not None else None,
        events=count,
    )


def _load_shape(scenario: Scenario) -> str:
    if scenario.load.arrivals == "ramp":
        return "ramp"
    return "bursts" if scenario.load.bursts else "steady"


def _orders_of_keys(final: FinalState, keys: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The order each of ``keys`` was used for, from its row or else its charge (the first
    requests are on disk by now)."""
    found: dict[tuple[str, str], str] = {}
    if keys:
        for p in final.payments:
            if (mk := (p.merchant, p.idempotency_key)) in keys:
                found.setdefault(mk, p.order)
        for c in final.charges:
            if (mk := (c.merchant, c.key)) in keys:
                found.setdefault(mk, c.order)
    return found


def summary_json(summary: dict[str, Any]) -> str:
    """The canonical text of a summary: sorted keys, fixed separators."""
    return json.dumps(summary, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def property_title(prop: str) -> str:
    return TITLES.get(prop, prop)


def run_task(
    scenario_file: str,
    variant_name: str,
    seed: int | None,
    out_dir: str | None,
    params: dict[str, Any] | None = None,
    max_traces: int = 50,
    provider: str = "stripe",
) -> RunResult:
    """One (scenario file, variant) run, loadable in a worker process: the history goes to
    ``out_dir/<scenario>/<variant>/history.parquet`` and the run's summary beside it."""
    from sim.scenario import load_file

    scenario = load_file(scenario_file)
    if params:
        scenario = scenario.with_params(params)
    history_path = None
    if out_dir is not None:
        folder = Path(out_dir) / scenario.name / variant_name
        if provider != "stripe":
            folder = folder / provider
        folder.mkdir(parents=True, exist_ok=True)
        history_path = folder / "history.parquet"
    result = run_scenario(
        scenario, variant_name, seed, history_path=history_path, max_traces=max_traces,
        provider=provider,
    )  # fmt: skip
    if history_path is not None:
        (history_path.parent / "summary.json").write_text(summary_json(result.summary))
    return result
