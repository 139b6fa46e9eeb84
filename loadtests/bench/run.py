"""One ``payharness bench live`` run: set up the rig, ramp every endpoint (interleaved or one
after the other) with its meter running, measure the component bounds, and write
``bench.json``. Rendering ``bench.md`` is ``reports.bench``'s."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from live.paths import output_root
from loadtests.bench.components import components
from loadtests.bench.meters import (
    Meter,
    cpu_snapshot,
    pg_transactions,
    redis_commands,
    server_round_trips,
)
from loadtests.bench.ramp import (
    WARMUP,
    Level,
    describe,
    next_rate,
    one_level,
    ramp,
    sustained,
)
from loadtests.bench.results import summarise
from loadtests.bench.rig import BenchRig

Echo = Callable[[str], None]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BenchOutcome:
    out_dir: Path
    summary: dict[str, Any]
    """What ``bench.json`` holds."""


def run_bench(args: argparse.Namespace, echo: Echo) -> BenchOutcome:
    """Measure every endpoint of ``args.endpoints`` and the components; raises ``BenchError``
    when the rig cannot be set up."""
    bench_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:4]
    out_dir: Path = args.out or output_root() / "bench" / bench_id
    out_dir.mkdir(parents=True, exist_ok=True)
    endpoints = [e.strip() for e in args.endpoints.split(",") if e.strip()]
    with BenchRig.open(endpoints, args.servers, out_dir, bench_id, echo) as rig:
        meters = {name: Meter(name, rig.groups[name]) for name in endpoints}
        for name, meter in meters.items():
            if name != "bare":  # the flow servers authenticate: one key in the bench's database
                meter.auth = rig.api_key_auth(_merchant(meter))
        for name in endpoints:
            echo(f"  {name}: {len(rig.groups[name])} servers {' '.join(rig.groups[name])}")
        if args.order == "sequential":
            _ramp_one_after_another(rig, meters, args, echo)
        else:
            _ramp_in_lockstep(rig, meters, args, echo)
        results = [meter.result() for meter in meters.values()]
        for res in results:
            echo(
                f"  {res.name}: sustained {res.sustained_per_s:.1f} payments/s at p99 < "
                f"{args.slo_ms:.0f} ms"
            )
        rig.restart_mock()
        echo("  component bounds ...")
        comps = asyncio.run(components(rig.stack_env, args))
    summary = summarise(results, comps, args)
    (out_dir / "bench.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return BenchOutcome(out_dir, summary)


def _ramp_one_after_another(
    rig: BenchRig, meters: dict[str, Meter], args: argparse.Namespace, echo: Echo
) -> None:
    """``--order sequential``: each endpoint's whole ramp on a freshly restarted mock."""
    for name, m in meters.items():
        mock_pid = rig.restart_mock()
        m.levels = _measured(rig, m, partial(_whole_ramp, m, args, echo), mock_pid)
        m.paid = sum(lv.ok for lv in m.levels) + 5
        echo(f"  {name}: sustained {sustained(m.levels):.1f} payments/s")


def _ramp_in_lockstep(
    rig: BenchRig, meters: dict[str, Meter], args: argparse.Namespace, echo: Echo
) -> None:
    """The default: one level of each endpoint in turn, the mock restarted empty before each,
    the first endpoint rotating, until every ramp has found its knee."""
    rates: dict[str, float | None] = {name: args.start_rate for name in meters}
    step = 0
    while True:
        active = [n for n in meters if rates[n] is not None]
        if not active:
            break
        # rotate who goes first, so no endpoint always meets the freshest machine
        turn = active[step % len(active) :] + active[: step % len(active)]
        step += 1
        for name in turn:
            mock_pid = rig.restart_mock()
            m, rate = meters[name], rates[name]
            assert rate is not None
            level = _measured(rig, m, partial(_one_level, m, rate, args), mock_pid)
            m.levels.append(level)
            m.paid += level.ok + WARMUP
            echo(f"  {name:8s}" + describe(level))
            rates[name] = next_rate(m.levels, args)
            time.sleep(1.0)


def _whole_ramp(m: Meter, args: argparse.Namespace, echo: Echo) -> list[Level]:
    return asyncio.run(ramp(m.targets, _merchant(m), args, echo, m.auth))


def _one_level(m: Meter, rate: float, args: argparse.Namespace) -> Level:
    return asyncio.run(one_level(m.targets, _merchant(m), rate, args, m.auth))


def _merchant(m: Meter) -> str:
    return f"bench{m.name}-m0"


def _measured(rig: BenchRig, m: Meter, run: Callable[[], T], mock_pid: list[int]) -> T:
    """Run ``run()`` (load on ``m``'s endpoint) and add its counters to the meter."""
    watched = {"servers": rig.server_pids(m.name), "mock": mock_pid, "redis": rig.redis_pids}
    flow = m.name != "bare"  # bare servers have no `GET /stats`
    # The CPU window holds the load alone: reading the counters (new Redis and
    # Postgres connections, `GET /stats` on flow servers only) stays outside it.
    r0, t0 = redis_commands(rig.redis.url), pg_transactions(rig.db_url, rig.dbname)
    rt0 = server_round_trips(m.targets) if flow else None
    cpu0 = cpu_snapshot(watched, rig.dbname)
    out = run()
    cpu1 = cpu_snapshot(watched, rig.dbname)
    r1, t1 = redis_commands(rig.redis.url), pg_transactions(rig.db_url, rig.dbname)
    rt1 = server_round_trips(m.targets) if flow else None
    m.add(cpu0, cpu1, r1 - r0, t1 - t0, rt0, rt1)
    return out
