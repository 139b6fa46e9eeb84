"""``payharness bench predict``: on this machine, in one run, calibrate the simulator from a
short live run, predict with it, and measure the same live.

1. A private rig (``BenchRig``: Redis, database, stack, bare servers) with the largest
   server count asked for, per variant.
2. The calibration run (``phases``) on one server per endpoint, fitted by
   ``loadtests.calibrate`` into ``calibration.toml``.
3. For each variant and server count, the simulator's knee (``sim.predict.predict``: new
   payments evenly spaced, p99 under the SLO) and its p50/p99 at half that knee.
4. The same live, on the first N servers of the variant: the knee by the same search
   (``sim.knee.search``, started at 0.8 x the prediction, each failing level offered
   twice, the mock restarted empty before every level), and one level at the predicted
   half-knee rate, so predicted and measured latencies are at the same load.

Everything lands in ``out/bench/predict-<id>/``: ``calibrate/`` (the run and its
calibration), ``predict.json``; ``reports.bench.predict`` renders the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from live.paths import output_root
from loadtests.bench.phases import calibration_run
from loadtests.bench.ramp import one_level
from loadtests.bench.results import path_floors
from loadtests.bench.rig import FLOOR, BenchRig
from loadtests.calibrate import CALIBRATION_FILE, fit, path_costs
from sim.calibration import write as write_calibration
from sim.knee import Knee, search
from sim.predict import CLOSE, Trial, predict

Echo = Callable[[str], None]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--servers", default="1,2,3", help="server counts (default 1,2,3)")
    parser.add_argument("--variants", default="seed,hardened", help="default seed,hardened")
    parser.add_argument("--slo-ms", type=float, default=250.0)
    parser.add_argument("--level-seconds", type=float, default=4.0, help="seconds per live rate")
    parser.add_argument("--growth", type=float, default=1.25, help="live rate step")
    parser.add_argument("--bisect", type=int, default=2, help="live bisection levels")
    parser.add_argument("--max-levels", type=int, default=9, help="live rates per knee at most")
    # CPU per request falls as load rises (the event loop wakes once for several requests):
    # at 40/s a bare charge measured 7.1 ms, at 100/s 6.5, and knees fitted at 40/s came out
    # 11-28 % low (docs/benchmarks.md). 100/s is about half of one server's knee here.
    parser.add_argument(
        "--calibration-rate", type=float, default=100.0, help="requests/s (default 100)"
    )
    parser.add_argument("--calibration-seconds", type=float, default=5.0, help="per path")
    parser.add_argument("--samples", type=int, default=400, help="latency samples per component")
    parser.add_argument("--sim-seconds", type=float, default=6.0, help="simulated s per level")
    parser.add_argument("--out", type=Path, default=None, help="folder (default out/bench/ID)")
    parser.add_argument(
        "--calibrate-only",
        action="store_true",
        help="the calibration run alone (per-path CPU, the HTTP floor, replay/bare CPU R): "
        "no prediction, no live knees (about 2 minutes)",
    )


@dataclass(frozen=True, slots=True)
class Row:
    variant: str
    servers: int
    knee_predicted: float
    knee_measured: float
    knee_measured_bracketed: bool
    """False: every live rate offered held, the measured knee is only a lower bound."""
    half_rate: float
    p50_predicted: float
    p99_predicted: float
    p50_measured: float
    p99_measured: float
    send_lag_p99_measured: float
    """The generator's own lateness at half load (p99): part of the measured latencies."""
    sim_trials: int
    live_trials: int


def server_counts(text: str) -> list[int]:
    counts = sorted({int(x) for x in text.split(",") if x.strip()})
    if not counts or counts[0] < 1:
        raise ValueError("--servers: positive integers, comma-separated")
    return counts


def run_predict(args: argparse.Namespace, echo: Echo) -> tuple[Path, dict[str, Any]]:
    """The whole run; returns its folder and what ``predict.json`` holds."""
    started = time.monotonic()
    run_id = "predict-" + time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:4]
    out_dir: Path = args.out or output_root() / "bench" / run_id
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = server_counts(args.servers)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    endpoints = ["bare", *variants, FLOOR]
    rows: list[Row] = []
    with BenchRig.open(
        endpoints, max(counts), out_dir, run_id.replace("predict-", "p"), echo
    ) as rig:
        auths = {v: rig.api_key_auth(f"bench{v}-m0") for v in [*variants, FLOOR]}
        cal_dir = calibration_run(
            rig, endpoints, auths, servers=1, rate=args.calibration_rate,
            seconds=args.calibration_seconds, samples=args.samples,
            out_dir=out_dir / "calibrate", echo=echo,
        )  # fmt: skip
        calibration, notes = fit(cal_dir)
        cal_path = write_calibration(
            cal_dir / CALIBRATION_FILE, calibration, "payharness bench predict: fitted"
        )
        for note in notes:
            echo(f"  calibration: {note}")
        echo(f"calibration: {cal_path}")
        predicted: dict[tuple[str, int], tuple[Knee[Trial], Trial]] = {}
        for v in [] if args.calibrate_only else variants:
            for k in counts:
                knee, half = predict(
                    cal_path, v, k, slo_ms=args.slo_ms, seconds=args.sim_seconds,
                    start=_start_rate(calibration_values(cal_path, v), k),
                )  # fmt: skip
                predicted[(v, k)] = (knee, half)
                echo(
                    f"  sim  {v:8s} {k} server(s): knee {knee.rate:6.1f}/s "
                    f"({len(knee.levels)} levels); at {knee.rate / 2:.1f}/s p50 "
                    f"{half.p50_ms:.1f} p99 {half.p99_ms:.1f} ms"
                )
        for v in [] if args.calibrate_only else variants:
            for k in counts:
                knee, half = predicted[(v, k)]
                live = _live_knee(rig, v, k, auths[v], max(knee.rate, 2.0), args, echo)
                half_rate = max(knee.rate / 2, 1.0)
                at_half = _live_level(
                    rig, v, k, auths[v], half_rate, args, echo, HALF_MIN_PAYMENTS,
                    HALF_MAX_SECONDS,
                )  # fmt: skip
                rows.append(
                    Row(v, k, round(knee.rate, 1), round(live.rate, 1), live.bracketed,
                        round(half_rate, 1),
                        round(half.p50_ms, 1), round(half.p99_ms, 1), round(at_half.p50_ms, 1),
                        round(at_half.p99_ms, 1), round(at_half.send_lag_p99_ms, 1),
                        len(knee.levels), len(live.levels))
                )  # fmt: skip
    run = json.loads((cal_dir / "calibration-run.json").read_text(encoding="utf-8"))
    costs = path_costs(run)
    summary = {
        "run": str(out_dir),
        "calibration": str(cal_path),
        "slo_ms": args.slo_ms,
        "wall_s": round(time.monotonic() - started, 1),
        "rows": [asdict(r) for r in rows],
        "path_costs": costs,
        "floors": {v: path_floors(v) for v in variants},
        "notes": notes,
    }
    (out_dir / "predict.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return out_dir, summary


def calibration_values(path: Path, variant: str) -> dict[str, float]:
    """The calibration's numbers that apply to ``variant`` (for the search's first rate)."""
    from sim.calibration import read

    cal = read(path)
    out = {k: float(f.value) for k, f in cal.topology.items()}
    out.update({k: float(f.value) for k, f in cal.variants.get(variant, {}).items()})
    return out


def _start_rate(values: dict[str, float], servers: int) -> float:
    """Half the CPU bound the figures imply (the machine's cores over all CPU per payment,
    the servers' loops over theirs), so the search brackets the knee in a few levels."""
    own = values.get("cpu_ms_new", 0.0)
    total = own + values.get("shared_cpu_ms_new", 0.0)
    free = values.get("cores", 0.0) - values.get("cpu_background", 0.0)
    if own <= 0 or total <= 0 or free <= 0:
        return 10.0
    return max(2.0, 0.5 * min(1000 * free / total, 1000 * servers / own))


LIVE_MIN_PAYMENTS = 100
"""A live level of the knee search lasts long enough for this many payments (at most
``LIVE_MAX_SECONDS``)."""
LIVE_MAX_SECONDS = 12.0
HALF_MIN_PAYMENTS = 400
"""The level at half the knee, whose p99 is compared, lasts for this many payments (at most
``HALF_MAX_SECONDS``): a p99 of 100 payments is their second worst."""
HALF_MAX_SECONDS = 20.0


def _level_args(
    args: argparse.Namespace, rate: float, payments: int, longest: float
) -> argparse.Namespace:
    seconds = min(max(args.level_seconds, payments / rate), longest)
    return argparse.Namespace(level_seconds=seconds, slo_ms=args.slo_ms)


def _live_level(
    rig: BenchRig,
    variant: str,
    servers: int,
    auth: dict[str, str],
    rate: float,
    args: argparse.Namespace,
    echo: Echo,
    payments: int = LIVE_MIN_PAYMENTS,
    longest: float = LIVE_MAX_SECONDS,
) -> Trial:
    rig.restart_mock(say=False)
    targets = rig.groups[variant][:servers]
    level = asyncio.run(
        one_level(
            targets, f"bench{variant}-m0", rate, _level_args(args, rate, payments, longest), auth
        )
    )
    echo(
        f"  live {variant:8s} {servers} server(s): {rate:6.1f}/s offered, {level.achieved:6.1f}"
        f"/s ok, p50 {level.p50_ms:6.1f} p99 {level.p99_ms:7.1f} ms, errors {level.errors}, "
        f"send lag p99 {level.send_lag_p99_ms:.1f} ms" + ("" if level.held else "  <- over")
    )
    time.sleep(0.5)
    return Trial(
        rate, level.sent, level.ok, level.p50_ms, level.p99_ms, level.held,
        level.send_lag_p99_ms,
    )  # fmt: skip


def _live_knee(
    rig: BenchRig,
    variant: str,
    servers: int,
    auth: dict[str, str],
    predicted: float,
    args: argparse.Namespace,
    echo: Echo,
) -> Knee[Trial]:
    return search(
        lambda r: _live_level(rig, variant, servers, auth, r, args, echo),
        0.8 * predicted,
        growth=args.growth,
        bisect=args.bisect,
        max_levels=args.max_levels,
        repeat_failures=True,
        close=CLOSE,
    )
