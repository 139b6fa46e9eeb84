"""Parameter sweeps: a grid of scenario variations run over a process pool or a Dask
cluster, each cell summarised by its violation rate and p99 latency."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from sim.scenario import Scenario, ScenarioError

ALIASES: dict[str, tuple[str, Callable[[float], Any], str]] = {
    "lock_ttl": ("variant.lock_ttl_ms", lambda v: round(v * 1000), "lock TTL in seconds"),
    "lock_wait": ("variant.lock_wait_ms", lambda v: int(v), "lock retry wait in ms"),
    "provider_timeout": (
        "variant.provider_timeout_ms",
        lambda v: round(v * 1000),
        "server's Stripe timeout in seconds",
    ),
    "stripe_p99": ("topology.stripe_p99_ms", float, "Stripe p99 latency in ms"),
    "stripe_median": ("topology.stripe_median_ms", float, "Stripe median latency in ms"),
    "rate": ("load.rate", float, "arrivals per second"),
    "servers": ("topology.servers", int, "number of servers"),
    "workers": ("topology.workers", int, "workers per server"),
    "pg_pool": ("topology.pg_pool", int, "Postgres connections per server"),
    "stripe_rate_limit": ("topology.stripe_rate_limit", float, "Stripe operations per second"),
    "client_timeout": ("client.timeout_ms", lambda v: round(v * 1000), "client timeout in s"),
    "max_attempts": ("client.max_attempts", int, "client attempts per key"),
    "double_submit_rate": ("client.double_submit_rate", float, "share of double taps"),
}


class SweepError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Axis:
    name: str
    values: tuple[Any, ...]
    key: str
    convert: Callable[[Any], Any]


def _scalar(text: str) -> Any:
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text.strip()


def parse_param(spec: str) -> Axis:
    """``name=v1,v2,...`` where name is an alias (``lock_ttl``) or a dotted scenario key
    (``topology.servers``)."""
    name, sep, values = spec.partition("=")
    name = name.strip()
    if not sep or not values.strip():
        raise SweepError(f"--param {spec!r}: expected NAME=V1,V2,...")
    parsed = tuple(_scalar(v) for v in values.split(",") if v.strip())
    if name in ALIASES:
        key, convert, _doc = ALIASES[name]
        return Axis(name, parsed, key, convert)
    if "." not in name:
        known = ", ".join(sorted(ALIASES))
        raise SweepError(
            f"--param {name!r}: unknown; use one of {known} or a dotted key like topology.servers"
        )
    return Axis(name, parsed, name, lambda v: v)


def check_grid(scenario: Scenario, axes: Sequence[Axis]) -> None:
    """Raise ``SweepError`` naming the ``--param`` when one of its values cannot be converted
    or makes an invalid scenario: checked for every value before any cell runs."""
    names = [a.name for a in axes]
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise SweepError(f"--param {twice}: given twice")
    for axis in axes:
        if not axis.values:
            raise SweepError(f"--param {axis.name}: no values")
        for value in axis.values:
            given = f"--param {axis.name}={value}"
            try:
                converted = axis.convert(value)
            except (TypeError, ValueError):
                raise SweepError(f"{given}: not a number") from None
            try:
                scenario.with_params({axis.key: converted})
            except ScenarioError as exc:
                raise SweepError(f"{given}: {exc.key}: {exc.problem}") from None
    for cell in cells(axes):
        try:
            scenario.with_params(overrides(axes, cell))
        except ScenarioError as exc:
            given = " ".join(f"--param {k}={v}" for k, v in cell.items())
            raise SweepError(f"{given}: {exc.key}: {exc.problem}") from None


def cells(axes: Sequence[Axis]) -> list[dict[str, Any]]:
    """Every combination, as {axis name: value}."""
    return [dict(zip([a.name for a in axes], combo, strict=True))
            for combo in itertools.product(*(a.values for a in axes))]  # fmt: skip


def overrides(axes: Sequence[Axis], cell: dict[str, Any]) -> dict[str, Any]:
    return {a.key: a.convert(cell[a.name]) for a in axes}


def run_cell(
    scenario_file: str, variant: str, seed: int | None, params: dict[str, Any]
) -> dict[str, Any]:
    """One cell, importable by a worker process or a Dask worker: a small, picklable dict."""
    from sim.runner import run_scenario
    from sim.scenario import ScenarioError, load_file

    try:
        scenario = load_file(scenario_file).with_params(params)
    except ScenarioError as exc:
        return {"params": params, "error": str(exc)}
    result = run_scenario(scenario, variant, seed, record_effects=False, max_traces=1)
    s = result.summary
    payments = max(1, s["payments"])
    return {
        "params": params,
        "error": None,
        "payments": s["payments"],
        "violations": s["violations"],
        "violation_rate": s["violations"] / payments,
        "broken": sorted(p for p, v in s["properties"].items() if v == "BROKEN"),
        "p50_ms": s["latency_ms"]["p50"],
        "p99_ms": s["latency_ms"]["p99"],
        "paid_per_s": s["throughput_per_s"],
        "charges": s["provider_charges"],
    }


def run_sweep(
    scenario_file: str,
    variant: str,
    seed: int | None,
    axes: Sequence[Axis],
    *,
    jobs: int = 2,
    dask_address: str | None = None,
    progress: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every cell; results in grid order, each tagged with its axis values."""
    grid = cells(axes)
    params = [overrides(axes, cell) for cell in grid]
    if dask_address is not None:
        from distributed import Client, as_completed

        with Client(dask_address) as client:  # type: ignore[no-untyped-call]
            futures = [
                client.submit(run_cell, scenario_file, variant, seed, p, pure=False) for p in params
            ]
            index = {f.key: i for i, f in enumerate(futures)}
            out: list[dict[str, Any] | None] = [None] * len(futures)
            for future in as_completed(futures):  # type: ignore[no-untyped-call]
                out[index[future.key]] = future.result()
                if progress:
                    progress()
            results = [r for r in out if r is not None]
    elif jobs <= 1:
        results = []
        for p in params:
            results.append(run_cell(scenario_file, variant, seed, p))
            if progress:
                progress()
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures_ = [pool.submit(run_cell, scenario_file, variant, seed, p) for p in params]
            results = []
            for f in futures_:
                results.append(f.result())
                if progress:
                    progress()
    for cell, result in zip(grid, results, strict=True):
        result["cell"] = cell
    return results
