"""The calibration run: what one request of each path costs on the live stack, and how long
each component takes to answer, written to a run folder that ``payharness calibrate`` fits.

For each flow endpoint three phases at a fixed, low rate, each holding one path only: ``new``
payments (fresh keys), their ``replay`` (the same keys and payloads again: answered from the
Redis cache) and a ``conflict`` (the same keys with another amount: hardened refuses with
422; seed, which does not compare payloads, replays). The bare endpoint has ``new`` only.
Over each phase the CPU of every process (``meters.cpu_snapshot``), the servers' round trips
(``GET /stats``) and the machine's busy time (``/proc/stat``) are counted. Before, between
and after the endpoints, cores + 1 CPU-bound spinners run for a second (``spin_probe``): the
share of a core each gets says how many other processes compete for the cores. Then
unloaded latency samples of each component, one request at a time:
Redis commands, the Postgres transactions of a payment, provider charges through the SDK.

Files: ``calibration-run.json`` (phases, pools, machine) and ``latency-samples.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

from loadtests.bench.meters import cpu_snapshot, cpu_used_s, server_round_trips
from loadtests.bench.ramp import MAX_IN_FLIGHT, WARMUP, offer
from loadtests.bench.rig import FLOOR, BenchRig
from loadtests.proc_stat import machine_busy_s
from loadtests.rawhttp import RawClient

RUN_FILE = "calibration-run.json"
SAMPLES_FILE = "latency-samples.json"
PATHS = ("new", "replay", "conflict")

Echo = Callable[[str], None]
Request = tuple[str, dict[str, object]]


SPIN = (
    "import time\n"
    "end = time.monotonic() + {seconds}\n"
    "while time.monotonic() < end:\n"
    "    pass\n"
    "print(time.process_time())\n"
)


def spin_probe(spinners: int, seconds: float = 1.0) -> float:
    """The share of a core each of ``spinners`` CPU-bound processes got over ``seconds``,
    started together: what a process of ours that wants a whole core gets on this machine
    now. Under CFS each of k spinners among N other runnable processes on C cores gets
    C / (N + k) of a core (at most 1), so with k > C it tells N."""
    import subprocess

    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SPIN.format(seconds=seconds)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(spinners)
    ]
    shares = []
    for proc in procs:
        out, _ = proc.communicate(timeout=seconds + 30)
        shares.append(float(out.strip() or 0.0) / seconds)
    return sum(shares) / len(shares)


async def _phase(
    targets: list[str],
    merchant: str,
    auth: Mapping[str, str],
    rate: float,
    seconds: float,
    make: Callable[[int], Request],
    warmup: Callable[[int], Request] | None = None,
) -> tuple[list[int], float]:
    """Offer ``make``'s requests at ``rate`` for ``seconds`` after a warm-up of ``warmup``'s
    (default: new payments); the answers' statuses and the measured window's wall seconds."""
    async with RawClient(timeout_s=10.0, max_idle=MAX_IN_FLIGHT) as client:
        await offer(client, targets, WARMUP, 1.0, merchant, 1e9, auth, warmup)
        statuses: list[int] = []
        started = time.monotonic()
        await offer(client, targets, rate, seconds, merchant, 1e9, auth, make, statuses)
        return statuses, time.monotonic() - started


def _floor_request(i: int) -> Request:
    return f"floor-{uuid.uuid4().hex}", {"order": f"o-{i}", "amount": 1000 + i}


def _window(
    rig: BenchRig,
    watched: dict[str, list[int]],
    phase: Coroutine[Any, Any, tuple[list[int], float]],
) -> dict[str, Any]:
    """Run one ``_phase`` between two CPU snapshots: the record's measured fields, and under
    ``_cpu_s`` the CPU seconds by component for the caller's own line."""
    cpu0, busy0, t0 = cpu_snapshot(watched, rig.dbname), machine_busy_s(), time.monotonic()
    statuses, wall = asyncio.run(phase)
    cpu1, busy1, t1 = cpu_snapshot(watched, rig.dbname), machine_busy_s(), time.monotonic()
    cpu_s = cpu_used_s(cpu0, cpu1)
    return {
        "statuses": dict(Counter(str(s) for s in statuses)),
        "wall_s": round(wall, 3),
        "window_s": round(t1 - t0, 3),
        "cpu_s": {k: round(v, 4) for k, v in cpu_s.items()},
        "machine_busy_s": round(busy1 - busy0, 3),
        # the warm-up's requests fall inside the window: counted as requests of the window
        # (their CPU is there)
        "requests": len(statuses) + WARMUP,
        "_cpu_s": cpu_s,
    }


def measure_floor(
    rig: BenchRig, auth: Mapping[str, str], rate: float, seconds: float, echo: Echo
) -> list[dict[str, Any]]:
    """The HTTP stack's floor (``loadtests.floor``), one phase per layer on its one server,
    as a path's phase: endpoint ``floor``, path the layer. The warm-up's requests are the
    layer's own, so they count as requests of the window."""
    from loadtests.floor import ROUTES

    base = rig.groups[FLOOR][0]
    out = []
    for layer in ROUTES:
        watched = {"servers": rig.server_pids(FLOOR), "mock": rig.mock_pids(),
                   "redis": rig.redis_pids}  # fmt: skip
        phase = _phase([f"{base}/{layer}"], FLOOR, auth, rate, seconds, _floor_request,
                       _floor_request)  # fmt: skip
        window = _window(rig, watched, phase)
        cpu_s, requests = window.pop("_cpu_s"), window["requests"]
        out.append({"endpoint": FLOOR, "path": layer, "servers": 1, "rate": rate,
                    "warmup_new_payments": 0, **window, "round_trips": {}})  # fmt: skip
        cpu_ms = 1000 * cpu_s.get("servers", 0.0) / max(1, requests)
        echo(f"  {FLOOR:8s} {layer:8s} {requests} requests, {cpu_ms:.2f} ms server CPU each")
    return out


def measure_paths(
    rig: BenchRig,
    endpoint: str,
    servers: int,
    auth: Mapping[str, str],
    rate: float,
    seconds: float,
    echo: Echo,
) -> list[dict[str, Any]]:
    """The phases of one endpoint on its first ``servers`` servers: one record per path."""
    targets = rig.groups[endpoint][:servers]
    merchant = f"bench{endpoint}-m0"
    sent: list[Request] = []

    def new(i: int) -> Request:
        key = f"{merchant}-c-{uuid.uuid4().hex}"
        body: dict[str, object] = {
            "merchant": merchant,
            "order": f"o-{uuid.uuid4().hex[:16]}",
            "amount": 1000 + i,
            "currency": "usd",
            "source": "tok_visa",
        }
        sent.append((key, body))
        return key, body

    def replay(i: int) -> Request:
        return sent[i % len(sent)]

    def conflict(i: int) -> Request:
        key, body = sent[i % len(sent)]
        return key, {**body, "amount": int(str(body["amount"])) + 1}

    makers = {"new": new, "replay": replay, "conflict": conflict}
    paths = PATHS if endpoint != "bare" else ("new",)
    flow = endpoint != "bare"
    out = []
    for path in paths:
        mock_pid = rig.restart_mock(say=False) if path == "new" else rig.mock_pids()
        watched = {"servers": rig.server_pids(endpoint), "mock": mock_pid, "redis": rig.redis_pids}
        rt0 = server_round_trips(targets) if flow else None
        phase = _phase(targets, merchant, auth, rate, seconds, makers[path])
        window = _window(rig, watched, phase)
        rt1 = server_round_trips(targets) if flow else None
        cpu_s, requests = window.pop("_cpu_s"), window["requests"]
        record: dict[str, Any] = {
            "endpoint": endpoint,
            "path": path,
            "servers": len(targets),
            "rate": rate,
            "warmup_new_payments": WARMUP,
            **window,
            "round_trips": (
                {k: rt1[k] - rt0[k] for k in rt1} if rt0 is not None and rt1 is not None else {}
            ),
        }
        out.append(record)
        cpu_ms = 1000 * sum(cpu_s.values()) / max(1, requests)
        echo(f"  {endpoint:8s} {path:8s} {requests} requests, {cpu_ms:.2f} ms CPU each")
    return out


async def latency_samples(env: Mapping[str, str], n: int) -> dict[str, list[float]]:
    """Milliseconds per round trip, one at a time (no load): Redis ``SET NX PX``/``GET``/
    ``DEL``; Postgres a PENDING insert and a completion transaction; the provider a charge
    through the Stripe SDK (its client-side time included, as a server waits it)."""
    import redis.asyncio as aioredis

    from core.domain import Payment, PaymentState
    from core.effects import PaymentInsert, ProviderCharge
    from core.flows.payment import completion_writes
    from core.variants import variant_named
    from live.config import LiveConfig
    from live.migrate import migrate
    from live.postgres_store import PostgresStore
    from live.stripe_provider import StripeProvider

    cfg = LiveConfig.from_env(env)
    clock = time.perf_counter
    out: dict[str, list[float]] = {"redis": [], "postgres": [], "provider": []}
    r = aioredis.Redis.from_url(cfg.redis_url)
    for _ in range(n):
        key = f"bench:cal:{uuid.uuid4().hex}"
        t0 = clock()
        await r.set(key, "t", nx=True, px=10_000)
        t1 = clock()
        await r.get(key)
        t2 = clock()
        await r.delete(key)
        t3 = clock()
        out["redis"] += [(t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000]
    await r.aclose()

    schema = "bench_calibrate"
    await migrate(cfg.database_url, schema)
    variant = variant_named("hardened")
    store = PostgresStore(cfg.database_url, schema, variant, max_size=2)
    await store.open()
    for _ in range(n // 2):
        pid = f"pay_{uuid.uuid4().hex[:20]}"
        row = Payment(pid, "cal", f"o-{pid}", f"k-{pid}", 1999, "usd", "tok_visa", "fp",
                      f"cal:k-{pid}", PaymentState.PENDING, 0)  # fmt: skip
        for writes in ([PaymentInsert(row)], list(completion_writes(variant, row, "ch_x"))):
            t0 = clock()
            await store.execute(writes)
            out["postgres"].append((clock() - t0) * 1000)
    await store.close()

    provider = StripeProvider(cfg.stripe_api_base, cfg.stripe_api_key, timeout_s=10)
    for _ in range(n // 2):
        effect = ProviderCharge(
            f"bench-cal-{uuid.uuid4().hex}", 1999, "usd", "tok_visa", (("bench", "cal"),)
        )
        t0 = clock()
        await provider.charge(effect)
        out["provider"].append((clock() - t0) * 1000)
    return out


def calibration_run(
    rig: BenchRig,
    endpoints: list[str],
    auth: Mapping[str, Mapping[str, str]],
    *,
    servers: int,
    rate: float,
    seconds: float,
    samples: int,
    out_dir: Path,
    echo: Echo,
) -> Path:
    """Every endpoint's phases and the latency samples, written into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    echo(f"calibration run: {rate:g} requests/s for {seconds:g} s per path, {servers} server(s)")
    phases = []
    spinners = (os.cpu_count() or 1) + 1
    probes = []
    for endpoint in endpoints:
        probes.append(spin_probe(spinners))
        if endpoint == FLOOR:
            phases += measure_floor(rig, auth.get(endpoint, {}), rate, seconds, echo)
            continue
        phases += measure_paths(rig, endpoint, servers, auth.get(endpoint, {}), rate, seconds, echo)
    probes.append(spin_probe(spinners))
    echo(f"  {spinners} spinners got {', '.join(f'{p:.2f}' for p in probes)} of a core each")
    pools = {}
    for endpoint in endpoints:
        if endpoint not in ("bare", FLOOR):
            pools[endpoint] = _pool_of(rig.groups[endpoint][0])
    echo(f"  latency samples: {samples} per component, one at a time ...")
    rig.restart_mock(say=False)
    lat = asyncio.run(latency_samples(rig.stack_env, samples))
    run = {
        "kind": "payharness calibration run",
        "made": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "server_workers": "uvicorn, one process per server, one event loop, no request limit",
        "generator_max_in_flight": MAX_IN_FLIGHT,
        "pools": pools,
        "background_probe": {"spinners": spinners, "seconds": 1.0, "core_share": probes},
        "phases": phases,
    }
    (out_dir / RUN_FILE).write_text(json.dumps(run, indent=2), encoding="utf-8")
    (out_dir / SAMPLES_FILE).write_text(json.dumps(lat), encoding="utf-8")
    return out_dir


def _pool_of(url: str) -> dict[str, int]:
    import httpx

    try:
        body = httpx.get(f"{url}/stats", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return {}
    pool = body.get("postgres_pool", {})
    return {k: int(v) for k, v in pool.items()}
