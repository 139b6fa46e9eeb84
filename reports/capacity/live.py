"""Measured points to put beside the simulated curves: a ``payharness bench live`` folder
(``bench.json``: open-loop levels of new payments per variant) or a ``payharness load`` run
folder (its offered-load segments)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

LOAD_RUN_VARIANT = "hardened"
"""A load run's folder does not record the variant; ``payharness load`` defaults to this."""


@dataclass(frozen=True, slots=True)
class LivePoint:
    servers: int
    variant: str
    offered_per_s: float
    achieved_per_s: float
    p99_ms: float
    source: str


class LiveRunError(ValueError):
    """The folder holds no live run this report can read."""


def live_points(run_dir: Path) -> list[LivePoint]:
    """The points of a bench folder or a load run folder; ``LiveRunError`` otherwise."""
    if (run_dir / "bench.json").exists():
        return _bench(run_dir / "bench.json")
    if (run_dir / "settings.json").exists():
        return _load_run(run_dir)
    raise LiveRunError(f"{run_dir}: neither bench.json (bench live) nor settings.json (load)")


def _bench(path: Path) -> list[LivePoint]:
    try:
        data = json.loads(path.read_text("utf-8"))
        servers = int(data["servers_per_endpoint"])
        endpoints = data["endpoints"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LiveRunError(f"{path}: not a bench live result ({exc})") from None
    return [
        LivePoint(
            servers,
            name,
            float(lv["rate"]),
            float(lv["achieved"]),
            float(lv["p99_ms"]),
            "payharness bench live",
        )
        for name, endpoint in endpoints.items()
        if name in ("seed", "hardened")
        for lv in endpoint.get("levels", [])
    ]


def _load_run(run_dir: Path) -> list[LivePoint]:
    from reports.load.frames import attempts, load_settings, read_events, segments, user_phases

    try:
        settings = load_settings(run_dir)
    except (OSError, ValueError, TypeError) as exc:
        raise LiveRunError(f"{run_dir}/settings.json: unreadable ({exc})") from None
    seg = segments(attempts(read_events(run_dir)), settings, user_phases(run_dir, settings))
    return [
        LivePoint(
            len(settings.targets),
            LOAD_RUN_VARIANT,
            float(row.offered_rps),
            float(row.throughput_rps),
            float(row.p99),
            "payharness load",
        )
        for row in seg.itertuples()
        if row.n > 0
    ]


def bench_costs(run_dir: Path | None) -> dict[str, dict[str, float]]:
    """Per variant, what a payment cost in the bench: CPU ms per component and round trips
    (empty for a load run or no folder): the report sets them beside the simulated ones."""
    if run_dir is None or not (run_dir / "bench.json").exists():
        return {}
    endpoints = json.loads((run_dir / "bench.json").read_text("utf-8")).get("endpoints", {})
    out: dict[str, dict[str, float]] = {}
    for name in ("seed", "hardened"):
        e = endpoints.get(name)
        if e is None:
            continue
        cpu = {f"{k} CPU ms": float(v) for k, v in e.get("cpu_ms_per_payment", {}).items()}
        trips = {
            f"{k} round trips": float(v) for k, v in e.get("round_trips_per_payment", {}).items()
        }
        out[name] = cpu | trips
    return out
