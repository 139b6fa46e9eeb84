"""``payharness calibrate RUN_DIR``: fit the simulator's topology figures to what a live run
measured, and write them as a calibration file (``sim.calibration``) any scenario can name.

What a run folder may hold, and what is fitted from it (each figure's source names the folder
and the measurement):

- ``latency-samples.json`` (``bench predict``'s calibration run): per component, unloaded
  round-trip milliseconds -> ``<backend>_median_ms``/``_p99_ms`` (nearest rank) and its own
  heavy tail, ``<backend>_tail_probability``/``_factor`` (samples beyond twice the p99: their
  share and their median multiple of the median).
- ``metrics.prom`` (a Prometheus scrape of the servers): where no samples exist,
  ``payharness_effect_duration_seconds{component=…}`` histograms give median and p99 by
  interpolation inside the buckets.
- ``calibration-run.json``: per endpoint and path (new, replay, conflict) the CPU seconds of
  every process over a phase of only that path, the servers' round trips, the machine's busy
  time, and spin probes -> ``cpu_ms_<path>`` (the servers') and ``shared_cpu_ms_<path>``
  (the mock, Redis, Postgres, the load generator) per variant, ``cores``, ``cpu_background``
  (other CPU-bound processes), ``pg_pool``.

What the folder does not hold stays an assumption; the fit says which.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from loadtests.bench.phases import RUN_FILE, SAMPLES_FILE
from loadtests.prom_histogram import bucket_quantile
from sim.calibration import Calibration, Figure

CALIBRATION_FILE = "calibration.toml"
BACKENDS = {"redis": "redis", "postgres": "postgres", "provider": "stripe"}
"""Measured component -> the topology's name for it."""
SHARED = ("mock", "redis", "postgres", "generator")
"""The processes beside the servers whose CPU the simulator puts on ``shared_cpu_ms``."""


class CalibrateError(ValueError):
    """The folder holds nothing to fit, or a file in it is malformed."""


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def fit_latency(samples: list[float]) -> tuple[float, float]:
    """Median and p99 (nearest rank) of ``samples``; p99 kept above the median."""
    median = nearest_rank(samples, 0.5)
    return median, max(median, nearest_rank(samples, 0.99))


def fit_tail(by_component: dict[str, list[float]]) -> tuple[float, float, int, str]:
    """The heavy tail of the component with the largest median (give one to fit one): the
    share of its samples beyond twice its p99, their median multiple of its median (1 when
    none); how many samples, and which component. The lognormal fitted by median and p99
    puts about 0.1 % beyond twice the p99; what is left there is a tail of its own (a
    scheduler's pause, a collection in the mock)."""
    measured = {c: s for c, s in by_component.items() if s}
    if not measured:
        return 0.0, 1.0, 0, ""
    comp = max(measured, key=lambda c: fit_latency(measured[c])[0])
    samples = measured[comp]
    median, p99 = fit_latency(samples)
    multiples = [s / median for s in samples if s > 2 * p99]
    if not multiples:
        return 0.0, 1.0, len(samples), comp
    return len(multiples) / len(samples), max(1.0, nearest_rank(multiples, 0.5)), len(samples), comp


def histogram_quantiles(text: str, metric: str) -> dict[str, tuple[float, float, int]]:
    """Per ``component`` label: median and p99 in ms of a Prometheus histogram, linear inside
    a bucket, and its count."""
    from prometheus_client.parser import text_string_to_metric_families

    buckets: dict[str, dict[float, float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name != metric:
            continue
        for sample in family.samples:
            if not sample.name.endswith("_bucket"):
                continue
            comp = sample.labels.get("component", "")
            le = float(sample.labels["le"])
            per = buckets.setdefault(comp, {})
            per[le] = per.get(le, 0.0) + sample.value  # summed over the other labels
    out = {}
    for comp, per in buckets.items():
        pairs = sorted(per.items())
        count = pairs[-1][1]
        if count <= 0:
            continue
        median, p99 = (1000 * bucket_quantile(pairs, q) for q in (0.5, 0.99))
        out[comp] = (median, max(median, p99), int(count))
    return out


def path_costs(run: dict[str, Any]) -> list[dict[str, Any]]:
    """Per endpoint and path, per request: CPU ms by process group and round trips, with the
    warm-up's new payments (inside every phase's window) taken out at the new path's cost."""
    phases = run["phases"]
    new_cost: dict[str, dict[str, float]] = {}
    out = []
    for ph in phases:
        requests, warm = ph["requests"], ph.get("warmup_new_payments", 0)
        cpu = {k: 1000 * v for k, v in ph["cpu_s"].items()}
        rts = dict(ph.get("round_trips", {}))
        if ph["path"] == "new":
            per_cpu = {k: v / requests for k, v in cpu.items()}
            per_rt = {k: v / requests for k, v in rts.items()}
            new_cost[ph["endpoint"]] = {**per_cpu, **{f"rt_{k}": v for k, v in per_rt.items()}}
        else:
            base = new_cost.get(ph["endpoint"], {})
            n = max(1, requests - warm)
            per_cpu = {k: max(0.0, (v - warm * base.get(k, 0.0)) / n) for k, v in cpu.items()}
            per_rt = {
                k: max(0.0, (v - warm * base.get(f"rt_{k}", 0.0)) / n) for k, v in rts.items()
            }
        out.append(
            {
                "endpoint": ph["endpoint"],
                "path": ph["path"],
                "requests": requests,
                "statuses": ph.get("statuses", {}),
                "cpu_ms": per_cpu,
                "round_trips": per_rt,
            }
        )
    return out


def _background(run: dict[str, Any]) -> float | None:
    """How many other CPU-bound processes compete for the cores, from the spin probes: k
    spinners each getting a share f of a core on C cores means C / f - k others (CFS shares
    the cores equally among runnable processes); the median probe."""
    probe = run.get("background_probe")
    cpus = run.get("machine", {}).get("cpus")
    if not probe or not cpus or not probe.get("core_share"):
        return None
    share = nearest_rank([float(f) for f in probe["core_share"]], 0.5)
    if share <= 0:
        return None
    return max(0.0, float(cpus) / share - int(probe["spinners"]))


def fit(run_dir: Path) -> tuple[Calibration, list[str]]:
    """The calibration of ``run_dir`` and notes on what could not be fitted."""
    if not run_dir.is_dir():
        raise CalibrateError(f"{run_dir}: not a folder")
    where = str(run_dir)
    topology: dict[str, Figure] = {}
    variants: dict[str, dict[str, Figure]] = {}
    notes: list[str] = []
    samples_file, prom_file, run_file = (
        run_dir / SAMPLES_FILE, run_dir / "metrics.prom", run_dir / RUN_FILE
    )  # fmt: skip
    if samples_file.exists():
        samples = _json(samples_file)
        for comp, backend in BACKENDS.items():
            values = [float(v) for v in samples.get(comp, [])]
            if not values:
                notes.append(f"{backend}: no samples in {SAMPLES_FILE}; latency stays assumed")
                continue
            median, p99 = fit_latency(values)
            what = f"{where}/{SAMPLES_FILE}: {len(values)} unloaded {comp} round trips"
            topology[f"{backend}_median_ms"] = Figure(round(median, 4), f"{what}, median")
            topology[f"{backend}_p99_ms"] = Figure(round(p99, 4), f"{what}, p99")
        for comp, backend in BACKENDS.items():
            values = [float(v) for v in samples.get(comp, [])]
            if not values:
                continue
            prob, factor, _n, _c = fit_tail({comp: values})
            what = (
                f"{where}/{SAMPLES_FILE}: {len(values)} {comp} samples, "
                "those beyond twice their p99"
            )
            topology[f"{backend}_tail_probability"] = Figure(round(prob, 5), f"{what}: their share")
            topology[f"{backend}_tail_factor"] = Figure(
                round(factor, 3), f"{what}: their median multiple of the median"
            )
    elif prom_file.exists():
        metric = "payharness_effect_duration_seconds"
        fitted = histogram_quantiles(prom_file.read_text(encoding="utf-8"), metric)
        for comp, backend in BACKENDS.items():
            if comp not in fitted:
                notes.append(f"{backend}: no {metric}{{component={comp!r}}}; stays assumed")
                continue
            median, p99, count = fitted[comp]
            what = f"{where}/metrics.prom: {metric}{{component={comp!r}}}, {count} effects"
            topology[f"{backend}_median_ms"] = Figure(round(median, 4), f"{what}, median")
            topology[f"{backend}_p99_ms"] = Figure(round(p99, 4), f"{what}, p99")
    else:
        notes.append(f"no {SAMPLES_FILE} or metrics.prom: component latencies stay assumed")
    made = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if run_file.exists():
        run = _json(run_file)
        made = str(run.get("made", made))
        _fit_cpu(run, where, topology, variants, notes)
    else:
        notes.append(f"no {RUN_FILE}: no CPU figures (the simulator keeps servers CPU-free)")
    if not topology and not variants:
        raise CalibrateError(
            f"{run_dir}: nothing to fit ({SAMPLES_FILE}, metrics.prom, {RUN_FILE})"
        )
    return Calibration(str(run_dir), where, made, topology, variants), notes


def _fit_cpu(
    run: dict[str, Any],
    where: str,
    topology: dict[str, Figure],
    variants: dict[str, dict[str, Figure]],
    notes: list[str],
) -> None:
    src = f"{where}/{RUN_FILE}"
    cpus = int(run.get("machine", {}).get("cpus") or 0)
    if cpus:
        topology["cores"] = Figure(cpus, f"{src}: os.cpu_count() of the machine it ran on")
    topology["server_cores"] = Figure(1, f"{src}: {run.get('server_workers', 'one event loop')}")
    topology["workers"] = Figure(
        1000, f"{src}: servers take every connection ({run.get('server_workers', '')}); "
        f"the generator keeps at most {run.get('generator_max_in_flight', '?')} open",
    )  # fmt: skip
    topology["stripe_rate_limit"] = Figure(
        1_000_000.0, f"{src}: the provider is the local Stripe mock, which has no rate limit"
    )
    background = _background(run)
    if background is not None:
        topology["cpu_background"] = Figure(
            round(background, 3),
            f"{src}: {run['background_probe']['spinners']} spinners got a median "
            f"{nearest_rank(run['background_probe']['core_share'], 0.5):.2f} of a core each: "
            "cores / share - spinners other CPU-bound processes",
        )
    for endpoint, pool in run.get("pools", {}).items():
        if "pool_max" in pool:
            topology["pg_pool"] = Figure(
                int(pool["pool_max"]), f"{src}: {endpoint} servers' psycopg pool_max (GET /stats)"
            )
            break
    for cost in path_costs(run):
        endpoint, path = cost["endpoint"], cost["path"]
        if endpoint in ("bare", "floor"):  # not a variant: the ceiling, the HTTP stack's floor
            continue
        what = f"{src}: {endpoint} {path} phase, {cost['requests']} requests"
        figures = variants.setdefault(endpoint, {})
        figures[f"cpu_ms_{path}"] = Figure(
            round(cost["cpu_ms"].get("servers", 0.0), 4), f"{what}, the servers' CPU per request"
        )
        shared = sum(cost["cpu_ms"].get(k, 0.0) for k in SHARED)
        figures[f"shared_cpu_ms_{path}"] = Figure(
            round(shared, 4), f"{what}, CPU per request of {', '.join(SHARED)}"
        )
    if not variants:
        notes.append(f"{RUN_FILE}: no flow endpoint's phases; CPU per path stays assumed")


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CalibrateError(f"{path}: unreadable ({exc})") from None
    if not isinstance(data, dict):
        raise CalibrateError(f"{path}: not a JSON object")
    return data
