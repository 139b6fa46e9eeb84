"""``payharness bench live``: the capacity of three endpoints on one live stack, and of the
components under them, measured in one run on this machine.

Endpoints (same Stripe mock, same Redis, same Postgres, same number of server processes):
``bare`` (only charges through the live Stripe adapter: ``loadtests.bare``), the ``seed``
flow and the ``hardened`` flow. For each, an open-loop generator offers a fixed rate of new
payments for a few seconds, stepping the rate up until the p99 latency (measured from each
request's *scheduled* send time, so queueing in the generator counts) leaves the SLO or the
endpoint stops keeping up, then bisecting between the highest rate that held and the lowest
that failed; the sustained figure is the highest rate that held. By default the endpoints'
ramps advance in lockstep (one level of each in turn, the first one rotating, the mock
restarted empty before every level), so a change in the shared machine's background load
falls on all of them alike; ``--order sequential`` runs one whole ramp after the other.

Per payment on each path it counts Redis commands (``INFO stats`` of a private Redis the bench
starts), Postgres transactions (``pg_stat_database`` of a private database the bench
creates; Postgres publishes a backend's counts up to seconds late, so with short interleaved
levels some land in a neighbour's window) and the round trips the servers' adapters made to
each (``GET /stats``, exact), next to the Redis operations and Postgres statements the core's
flow yields (the memory runtime counting effects). Component bounds in the same run: Redis
operations/s,
Postgres transactions/s doing a payment's writes, the mock's charges/s over raw HTTP, and
Stripe SDK calls/s from one process. Figures are printed and saved to ``bench.json`` and
``bench.md``; they are measurements of this machine, never asserted on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from loadtests.faults import PrivateRedis, wait_ready
from loadtests.rawhttp import HTTPError, RawClient
from loadtests.stack import REPO, free_port, ports_free, unmasked

ENDPOINTS = ("bare", "seed", "hardened")
MAX_IN_FLIGHT = 256
"""Requests one level keeps open at most (one connection each). A request
due while this many are unanswered is not sent and counts as an error with infinite latency:
an endpoint that far behind has failed the level, and queueing thousands of requests in the
HTTP client's pool costs the generator quadratic CPU time (minutes for one level)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--servers", type=int, default=2, help="server processes per endpoint")
    parser.add_argument("--slo-ms", type=float, default=250.0)
    parser.add_argument("--level-seconds", type=float, default=5.0, help="seconds per rate")
    parser.add_argument("--start-rate", type=float, default=10.0, help="first rate, payments/s")
    parser.add_argument("--growth", type=float, default=1.35, help="rate multiplier per step")
    parser.add_argument("--max-rate", type=float, default=2000.0)
    parser.add_argument(
        "--bisect",
        type=int,
        default=3,
        help="levels spent between the highest rate that held and the first that failed",
    )
    parser.add_argument("--component-seconds", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, default=32, help="component probes")
    parser.add_argument("--endpoints", default=",".join(ENDPOINTS))
    parser.add_argument(
        "--order",
        choices=("interleaved", "sequential"),
        default="interleaved",
        help="interleaved (default): the endpoints' ramps advance in lockstep, one level of "
        "each in turn, so a change in the machine's background load hits all of them alike; "
        "sequential: one endpoint's whole ramp after the other",
    )
    parser.add_argument("--out", type=Path, default=None, help="folder (default out/bench/ID)")


# --- open-loop load ---------------------------------------------------------------------------


@dataclass(slots=True)
class Level:
    rate: float
    sent: int
    ok: int
    errors: int
    achieved: float
    p50_ms: float
    p99_ms: float
    held: bool


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def offer(
    client: RawClient,
    targets: Sequence[str],
    rate: float,
    seconds: float,
    merchant: str,
    slo_ms: float,
) -> Level:
    """Send ``rate`` new payments per second for ``seconds``, open loop."""
    loop = asyncio.get_running_loop()
    n = max(1, int(rate * seconds))
    latencies: list[float] = []
    statuses: list[int] = []
    done_at: list[float] = []
    rng = random.Random()
    in_flight = 0
    urls = [f"{t}/payments" for t in targets]

    async def one(due: float, i: int) -> None:
        nonlocal in_flight
        if in_flight >= MAX_IN_FLIGHT:
            latencies.append(float("inf"))
            statuses.append(0)
            return
        in_flight += 1
        try:
            await _send(due, i)
        finally:
            in_flight -= 1

    async def _send(due: float, i: int) -> None:
        key = f"{merchant}-k-{uuid.uuid4().hex}"
        body = {
            "merchant": merchant,
            "order": f"o-{uuid.uuid4().hex[:16]}",
            "amount": rng.randint(100, 99_999),
            "currency": "usd",
            "source": "tok_visa",
        }
        try:
            status = await client.post(
                urls[i % len(urls)], json.dumps(body).encode(), {"Idempotency-Key": key}
            )
        except HTTPError:
            status = 0
        now = loop.time()
        latencies.append((now - due) * 1000)
        statuses.append(status)
        done_at.append(now)

    start = loop.time() + 0.05
    tasks = []
    for i in range(n):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due, i)))
    await asyncio.wait(tasks, timeout=30)
    for t in tasks:
        t.cancel()
    ok = sum(1 for s in statuses if s == 201)
    errors = n - ok
    span = (max(done_at) - start) if done_at else seconds
    achieved = ok / max(span, seconds)
    p99 = _quantile(latencies, 0.99) if len(latencies) == n else float("inf")
    held = p99 < slo_ms and errors <= max(1, 0.01 * n) and achieved >= 0.9 * rate
    return Level(rate, n, ok, errors, achieved, _quantile(latencies, 0.5), p99, held)


async def ramp(
    targets: Sequence[str], merchant: str, args: argparse.Namespace, echo: Any
) -> list[Level]:
    levels: list[Level] = []
    async with RawClient(timeout_s=10.0, max_idle=MAX_IN_FLIGHT) as client:
        await offer(client, targets, 5, 1.0, merchant, 1e9)  # warm connections and pools
        rate: float | None = args.start_rate
        while rate is not None:
            level = await offer(client, targets, rate, args.level_seconds, merchant, args.slo_ms)
            levels.append(level)
            echo(
                f"    {rate:7.1f}/s offered: {level.achieved:7.1f}/s ok, p50 {level.p50_ms:6.1f}"
                f" ms, p99 {level.p99_ms:7.1f} ms, errors {level.errors}"
                + ("" if level.held else "  <- over")
            )
            rate = next_rate(levels, args)
            await asyncio.sleep(1.0)
    return levels


def next_rate(levels: list[Level], args: argparse.Namespace) -> float | None:
    """The rate to offer next, or None when the knee is found.

    Up by ``growth`` while every level holds; after the first rate that fails, bisect
    (geometrically) between the highest rate that held and the lowest that failed, at most
    ``--bisect`` times and while they are more than 5 % apart.

    A level that fails is offered once more before its rate counts as failed: a level's p99
    is about its third-worst latency, and one pause of a shared machine (a collection in the
    mock, another process) can push it over once. Seen here: bare over at 44.8/s, then
    holding 410/s in the next run. Every endpoint's ramp follows the same rule."""
    last = levels[-1]
    if not last.held and sum(1 for lv in levels if lv.rate == last.rate) == 1:
        return last.rate
    held = [lv.rate for lv in levels if lv.held]
    failed = {lv.rate for lv in levels if not lv.held} - set(held)
    if not failed:
        rate = max(held) * args.growth
        return rate if rate <= args.max_rate else None
    if not held:
        return None
    lo, hi = max(held), min(failed)
    first = next(i for i, lv in enumerate(levels) if lv.rate in failed)
    bisected = len({lv.rate for lv in levels[first + 1 :]} - {levels[first].rate})
    if lo >= hi or hi / lo <= 1.05 or bisected >= args.bisect:
        return None
    return float((lo * hi) ** 0.5)


def sustained(levels: list[Level]) -> float:
    held = [lv.achieved for lv in levels if lv.held]
    return max(held) if held else 0.0


# --- counters ---------------------------------------------------------------------------------


def redis_commands(url: str) -> int:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return int(client.info("stats")["total_commands_processed"])
    finally:
        client.close()


def pg_transactions(database_url: str, dbname: str) -> float:
    """Committed + rolled back transactions of the bench database (NaN when Postgres refuses
    one more connection: servers x PAYHARNESS_DB_POOL_MAX must stay under max_connections)."""
    import psycopg

    time.sleep(0.6)  # backends report their counters at the end of a transaction, in batches
    for _ in range(10):
        try:
            with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
                conn.execute("SELECT pg_stat_clear_snapshot()")
                row = conn.execute(
                    "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
                    (dbname,),
                ).fetchone()
            return float(row[0]) if row else 0.0
        except psycopg.OperationalError:
            time.sleep(1.0)
    return float("nan")


def modelled_effects(variant: str) -> dict[str, int]:
    """Redis operations and Postgres statements one new payment yields in the core flow
    (memory runtime, counting effects by backend; a transaction of k writes is counted as
    k + 2 statements: BEGIN, the writes, COMMIT). The live adapter sends a transaction's
    statements in one round trip: the measured round trips are ``server_round_trips``."""
    from core.domain import PaymentRequest
    from core.effects import DbTransaction
    from core.flows.payment import payment_flow
    from core.runtime.driver import FlowDriver
    from core.runtime.world import World
    from core.variants import variant_named

    world = World(variant_named(variant), record_effects=False)
    request = PaymentRequest("m", "o1", 1999, "usd", "tok_visa", "k1")
    driver = FlowDriver(payment_flow(request, world.variant, "a1"))
    counts = {"redis": 0, "postgres": 0, "stripe": 0}
    while not driver.done:
        effect = driver.pending
        assert effect is not None
        backend = getattr(effect, "backend", "")
        if backend in counts:
            n = len(effect.writes) + 2 if isinstance(effect, DbTransaction) else 1
            counts[backend] += n
        driver.send(world.perform(effect))
    return counts


# --- component bounds -------------------------------------------------------------------------


async def _rate(seconds: float, concurrency: int, op: Any) -> float:
    stop = time.monotonic() + seconds
    count = 0

    async def worker() -> None:
        nonlocal count
        while time.monotonic() < stop:
            done = await op()  # not `count += await op()`: that reads count before awaiting
            count += done

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.monotonic() - started)


async def components(env: dict[str, str], args: argparse.Namespace) -> dict[str, float]:
    import redis.asyncio as aioredis

    from core.domain import Payment, PaymentState
    from core.effects import DbTransaction, PaymentInsert, ProviderCharge
    from core.flows.payment import completion_writes
    from core.variants import variant_named
    from live.config import LiveConfig
    from live.migrate import migrate
    from live.postgres_store import PostgresStore
    from live.stripe_provider import StripeProvider

    cfg = LiveConfig.from_env(env)
    secs, conc = args.component_seconds, args.concurrency
    out: dict[str, float] = {}

    r = aioredis.Redis.from_url(cfg.redis_url)

    async def redis_op() -> int:
        key = f"bench:{uuid.uuid4().hex}"
        await r.set(key, "t", nx=True, px=10_000)
        await r.get(key)
        await r.delete(key)
        return 3

    out["redis_ops_per_s"] = await _rate(secs, conc, redis_op)
    await r.aclose()

    schema = "bench_components"
    await migrate(cfg.database_url, schema)
    variant = variant_named("hardened")
    store = PostgresStore(cfg.database_url, schema, variant, max_size=10)
    await store.open()

    async def pg_op() -> int:
        pid = f"pay_{uuid.uuid4().hex[:20]}"
        row = Payment(
            pid,
            "bench",
            f"o-{pid}",
            f"k-{pid}",
            1999,
            "usd",
            "tok_visa",
            "fp",
            f"bench:k-{pid}",
            PaymentState.PENDING,
            0,
        )
        await store.execute([PaymentInsert(row)])
        await store.execute(list(DbTransaction(completion_writes(variant, row, "ch_x")).writes))
        return 2

    out["postgres_tx_per_s"] = await _rate(secs, 10, pg_op)
    out["postgres_payment_writes_per_s"] = out["postgres_tx_per_s"] / 2
    await store.close()

    async with httpx.AsyncClient(
        base_url=cfg.stripe_api_base, auth=(cfg.stripe_api_key, ""), timeout=10
    ) as client:

        async def raw_charge() -> int:
            r = await client.post(
                "/v1/charges",
                data={"amount": 1999, "currency": "usd", "source": "tok_visa"},
                headers={"Idempotency-Key": f"bench-raw-{uuid.uuid4().hex}"},
            )
            return 1 if r.status_code == 200 else 0

        out["mock_charges_per_s"] = await _rate(secs, conc, raw_charge)

    provider = StripeProvider(cfg.stripe_api_base, cfg.stripe_api_key, timeout_s=10)

    async def sdk_charge() -> int:
        effect = ProviderCharge(
            f"bench-sdk-{uuid.uuid4().hex}", 1999, "usd", "tok_visa", (("bench", "sdk"),)
        )
        result = await provider.charge(effect)
        return 1 if result.succeeded else 0

    out["stripe_sdk_calls_per_s_per_process"] = await _rate(secs, conc, sdk_charge)
    return out


# --- the run --------------------------------------------------------------------------------

WARMUP = 5
"""Payments each level's warm-up sends (new client, fresh mock) before the measured load."""


def describe(level: Level) -> str:
    return (
        f"{level.rate:7.1f}/s offered: {level.achieved:7.1f}/s ok, p50 {level.p50_ms:6.1f}"
        f" ms, p99 {level.p99_ms:7.1f} ms, errors {level.errors}"
        + ("" if level.held else "  <- over")
    )


async def one_level(
    targets: Sequence[str], merchant: str, rate: float, args: argparse.Namespace
) -> Level:
    """One rate level with its own client, after a warm-up of ``WARMUP`` payments."""
    async with RawClient(timeout_s=10.0, max_idle=MAX_IN_FLIGHT) as client:
        await offer(client, targets, WARMUP, 1.0, merchant, 1e9)
        return await offer(client, targets, rate, args.level_seconds, merchant, args.slo_ms)


@dataclass(slots=True)
class Meter:
    """One endpoint's levels and the counters summed over the periods it was under load."""

    name: str
    targets: list[str]
    levels: list[Level] = field(default_factory=list)
    paid: int = 0
    redis_commands: float = 0.0
    pg_transactions: float = 0.0
    round_trips: dict[str, float] = field(default_factory=lambda: {"redis": 0.0, "postgres": 0.0})
    cpu_s: dict[str, float] = field(default_factory=dict)

    def add(
        self,
        cpu0: dict[str, dict[int, float]],
        cpu1: dict[str, dict[int, float]],
        redis_cmds: float,
        pg_tx: float,
        rt0: dict[str, float] | None,
        rt1: dict[str, float] | None,
    ) -> None:
        self.redis_commands += redis_cmds
        self.pg_transactions += pg_tx
        if rt0 is not None and rt1 is not None:
            for k in self.round_trips:
                self.round_trips[k] += rt1[k] - rt0[k]
        for group, used in cpu_used_s(cpu0, cpu1).items():
            self.cpu_s[group] = self.cpu_s.get(group, 0.0) + used

    def result(self, args: argparse.Namespace) -> EndpointResult:
        paid = max(self.paid, 1)
        res = EndpointResult(self.name, len(self.targets), sustained(self.levels), self.levels)
        res.cpu_ms_per_payment = {k: round(1000 * v / paid, 2) for k, v in self.cpu_s.items()}
        res.redis_commands_per_payment = self.redis_commands / paid
        res.postgres_tx_per_payment = self.pg_transactions / paid
        res.round_trips_per_payment = {k: v / paid for k, v in self.round_trips.items()}
        res.modelled = (
            {"redis": 0, "postgres": 0, "stripe": 1}
            if self.name == "bare"
            else modelled_effects(self.name)
        )
        return res


@dataclass(slots=True)
class EndpointResult:
    name: str
    servers: int
    sustained_per_s: float
    levels: list[Level] = field(default_factory=list)
    redis_commands_per_payment: float = float("nan")
    postgres_tx_per_payment: float = float("nan")
    round_trips_per_payment: dict[str, float] = field(default_factory=dict)
    modelled: dict[str, int] = field(default_factory=dict)
    cpu_ms_per_payment: dict[str, float] = field(default_factory=dict)


def server_round_trips(targets: Sequence[str]) -> dict[str, float]:
    """Redis and Postgres round trips the servers' adapters have made (``GET /stats``,
    summed over ``targets``); NaN for an endpoint without it (bare makes none)."""
    total = {"redis": 0.0, "postgres": 0.0}
    for url in targets:
        try:
            r = httpx.get(f"{url}/stats", timeout=5)
        except httpx.HTTPError:
            return {k: float("nan") for k in total}
        if r.status_code != 200:
            return {k: float("nan") for k in total}
        body = r.json()
        total["redis"] += body["redis_round_trips"]
        total["postgres"] += body["postgres_round_trips"]
    return total


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process (0 when it is gone)."""
    try:
        fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields_[11]) + int(fields_[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_pids() -> list[int]:
    out = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "comm").read_text().strip() == "postgres":
                    out.append(int(proc.name))
            except OSError:
                continue
    return out


def cpu_snapshot(groups: dict[str, list[int]]) -> dict[str, dict[int, float]]:
    """CPU seconds per process of each component (servers, mock, redis, postgres, generator);
    postgres counts every backend on the machine, so other work there shows up in it."""
    snap = {name: {pid: _cpu_s(pid) for pid in pids} for name, pids in groups.items()}
    snap["postgres"] = {pid: _cpu_s(pid) for pid in _postgres_pids()}
    snap["generator"] = {os.getpid(): _cpu_s(os.getpid())}
    return snap


def cpu_used_s(
    before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]
) -> dict[str, float]:
    """CPU seconds each component used between two snapshots: processes seen in both, and
    Postgres backends seen only in the later one.

    A Postgres backend that started inside the window counts from zero: the servers' pools
    open connections as the load grows, and those backends do the payments' work. Counting
    only backends seen in both snapshots left it out: with one server per endpoint at a fixed
    60 payments/s for 20 s (2026-11-30, shared machine), 0.3-0.9 ms of Postgres CPU per
    hardened payment counted that way, 1.1-1.9 ms counted this way."""
    out: dict[str, float] = {}
    for name, pids in after.items():
        seen = before.get(name, {})
        out[name] = sum(
            t - seen.get(pid, 0.0) for pid, t in pids.items() if pid in seen or name == "postgres"
        )
    return out


def restart_mock(state_file: Path, api_base: str, api_key: str) -> str:
    """Restart the stack's Stripe mock, empty (it keeps every charge in memory and slows as
    they pile up), and record the new pid so ``stack down`` still stops it."""
    import signal

    from live.processes import proc_start_time
    from loadtests.faults import ProcessImage, alive

    state = json.loads(state_file.read_text())
    entry = next((e for e in state["processes"] if e["name"] == "stripe-mock"), None)
    if entry is None:
        return "no mock in the stack (an external provider): not restarted"
    image = ProcessImage.of(int(entry["pid"]))
    os.kill(int(entry["pid"]), signal.SIGKILL)
    for _ in range(100):
        if not alive(int(entry["pid"])):
            break
        time.sleep(0.02)
    proc = image.start(Path(entry["log"]))
    entry["pid"], entry["start_time"] = proc.pid, proc_start_time(proc.pid)
    state_file.write_text(json.dumps(state, indent=2))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(
                f"{api_base}/v1/charges?limit=1", auth=(api_key, ""), timeout=1
            ).is_success:
                return f"mock restarted as pid {proc.pid}"
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise BenchError("the Stripe mock did not come back after its restart")


def _consecutive(n: int) -> int:
    for _ in range(100):
        base = free_port()
        if base + n < 65000 and ports_free([base + i for i in range(n)]):
            return base
    raise RuntimeError("no free consecutive ports")


def main(argv: Sequence[str] | argparse.Namespace | None = None) -> int:
    if isinstance(argv, argparse.Namespace):
        args = argv
    else:
        parser = argparse.ArgumentParser(
            prog="payharness bench live",
            description=__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_arguments(parser)
        args = parser.parse_args(list(argv) if argv is not None else None)
    from live.paths import output_root

    bench_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:4]
    out_dir: Path = args.out or output_root() / "bench" / bench_id
    out_dir.mkdir(parents=True, exist_ok=True)
    echo = lambda s: print(s, flush=True)  # noqa: E731
    endpoints = [e.strip() for e in args.endpoints.split(",") if e.strip()]
    try:
        return _run(args, endpoints, out_dir, bench_id, echo)
    except BenchError as exc:
        print(f"bench live: {exc}", file=sys.stderr)
        return 3


class BenchError(RuntimeError):
    pass


def _run(
    args: argparse.Namespace, endpoints: list[str], out_dir: Path, bench_id: str, echo: Any
) -> int:
    import psycopg

    from live.config import LiveConfig

    base_cfg = LiveConfig.from_env()
    dbname = "lt_bench_" + bench_id.replace("-", "_")
    admin_url = base_cfg.database_url
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
    except psycopg.Error as exc:
        raise BenchError(f"cannot create the bench database {dbname}: {exc}") from exc
    db_url = admin_url.rsplit("/", 1)[0] + "/" + dbname
    redis = PrivateRedis(free_port(), out_dir).start()
    k = args.servers
    flows = [e for e in endpoints if e != "bare"]
    base_port, mock_port = _consecutive(k * max(1, len(flows))), free_port()
    env = {
        **os.environ,
        "PAYHARNESS_OUT": str(out_dir),
        "PAYHARNESS_DATABASE_URL": db_url,
        "PAYHARNESS_REDIS_URL": redis.url,
        "PAYHARNESS_DB_SCHEMA": "payharness",
        "PAYHARNESS_REDIS_PREFIX": "bench:",
    }
    bare_procs: list[subprocess.Popen[bytes]] = []
    stack_up = False
    results: list[EndpointResult] = []
    try:
        variants = ",".join(v for v in flows for _ in range(k)) or "hardened"
        n_servers = k * max(1, len(flows))
        echo(
            f"bench {bench_id}: stack with {n_servers} servers ({variants}), private Redis "
            f"and database; output in {out_dir}"
        )
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "payharness",
                "stack",
                "up",
                "--servers",
                str(n_servers),
                "--base-port",
                str(base_port),
                "--mock-port",
                str(mock_port),
                "--variant",
                variants,
                "--no-reconciler",
            ],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise BenchError("stack up failed:\n" + (done.stdout + done.stderr)[-2000:])
        stack_up = True
        state = json.loads((out_dir / "stack" / "state.json").read_text())
        stack_env = {**env, **unmasked(state["env"], env)}
        groups: dict[str, list[str]] = {}
        for entry in state["processes"]:
            if entry["name"].startswith("server-"):
                url = f"http://127.0.0.1:{entry['port']}"
                groups.setdefault(entry["variant"], []).append(url)
        if "bare" in endpoints:
            bare_base = _consecutive(k)
            for i in range(k):
                log = open(out_dir / f"bare-{i}.log", "ab")  # noqa: SIM115
                bare_procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "loadtests.bare", "--port", str(bare_base + i)],
                        env=stack_env,
                        cwd=REPO,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                )
            groups["bare"] = [f"http://127.0.0.1:{bare_base + i}" for i in range(k)]
            for url in groups["bare"]:
                if not wait_ready(url, 30):
                    raise BenchError(f"bare endpoint {url} did not start")
        from live.config import LiveConfig as _Cfg

        live_cfg = _Cfg.from_env(stack_env)
        state_file = out_dir / "stack" / "state.json"

        def mock_restart() -> list[int]:
            echo("  " + restart_mock(state_file, live_cfg.stripe_api_base, live_cfg.stripe_api_key))
            now = json.loads(state_file.read_text())
            return [int(e["pid"]) for e in now["processes"] if e["name"] == "stripe-mock"]

        def pids_of(name: str) -> list[int]:
            if name == "bare":
                return [p.pid for p in bare_procs]
            now = json.loads(state_file.read_text())
            return [
                int(e["pid"])
                for e in now["processes"]
                if e["name"].startswith("server-") and e.get("variant") == name
            ]

        redis_pid = [redis.proc.pid] if redis.proc is not None else []
        meters = {name: Meter(name, groups[name]) for name in endpoints}
        for name in endpoints:
            echo(f"  {name}: {len(groups[name])} servers {' '.join(groups[name])}")

        def measured(name: str, run: Any, mock_pid: list[int]) -> Any:
            """Run ``run()`` (load on ``name``) and add its counters to the endpoint's meter."""
            m = meters[name]
            watched = {"servers": pids_of(name), "mock": mock_pid, "redis": redis_pid}
            # The CPU window holds the load alone: reading the counters (new Redis and
            # Postgres connections, `GET /stats` on flow servers only) stays outside it.
            r0, t0 = redis_commands(redis.url), pg_transactions(db_url, dbname)
            rt0 = server_round_trips(m.targets) if name != "bare" else None
            cpu0 = cpu_snapshot(watched)
            out = run()
            cpu1 = cpu_snapshot(watched)
            r1, t1 = redis_commands(redis.url), pg_transactions(db_url, dbname)
            rt1 = server_round_trips(m.targets) if name != "bare" else None
            m.add(cpu0, cpu1, r1 - r0, t1 - t0, rt0, rt1)
            return out

        if args.order == "sequential":
            for name in endpoints:
                mock_pid = mock_restart()
                m = meters[name]
                m.levels = measured(
                    name,
                    lambda m=m: asyncio.run(ramp(m.targets, f"bench{m.name}-m0", args, echo)),
                    mock_pid,
                )
                m.paid = sum(lv.ok for lv in m.levels) + 5
                echo(f"  {name}: sustained {sustained(m.levels):.1f} payments/s")
        else:
            rates: dict[str, float | None] = {name: args.start_rate for name in endpoints}
            step = 0
            while True:
                active = [n for n in endpoints if rates[n] is not None]
                if not active:
                    break
                # rotate who goes first, so no endpoint always meets the freshest machine
                turn = active[step % len(active) :] + active[: step % len(active)]
                step += 1
                for name in turn:
                    mock_pid = mock_restart()
                    m = meters[name]
                    level = measured(
                        name,
                        lambda m=m, r=rates[name]: asyncio.run(
                            one_level(m.targets, f"bench{m.name}-m0", r, args)
                        ),
                        mock_pid,
                    )
                    m.levels.append(level)
                    m.paid += level.ok + WARMUP
                    echo(f"  {name:8s}" + describe(level))
                    rates[name] = next_rate(m.levels, args)
                    time.sleep(1.0)
        for name in endpoints:
            m = meters[name]
            res = m.result(args)
            results.append(res)
            echo(
                f"  {name}: sustained {res.sustained_per_s:.1f} payments/s at p99 < "
                f"{args.slo_ms:.0f} ms"
            )
        echo(
            "  "
            + restart_mock(
                out_dir / "stack" / "state.json", live_cfg.stripe_api_base, live_cfg.stripe_api_key
            )
        )
        echo("  component bounds ...")
        comps = asyncio.run(components(stack_env, args))
    finally:
        for p in bare_procs:
            p.terminate()
        for p in bare_procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if stack_up:
            subprocess.run(
                [sys.executable, "-m", "payharness", "stack", "down"],
                env=env,
                cwd=REPO,
                capture_output=True,
                timeout=120,
                check=False,
            )
        redis.stop()
        try:
            with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        except psycopg.Error as exc:
            echo(f"could not drop database {dbname}: {exc}")
    summary = _summary(results, comps, args)
    (out_dir / "bench.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    text = _render(summary)
    (out_dir / "bench.md").write_text(text, encoding="utf-8")
    echo(text)
    return 0


def _summary(
    results: list[EndpointResult], comps: dict[str, float], args: argparse.Namespace
) -> dict[str, Any]:
    by = {r.name: r for r in results}
    ratio = None
    if "bare" in by and "hardened" in by and by["bare"].sustained_per_s > 0:
        ratio = by["hardened"].sustained_per_s / by["bare"].sustained_per_s
    return {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "slo_ms": args.slo_ms,
        "servers_per_endpoint": args.servers,
        "endpoints": {
            r.name: {
                "sustained_payments_per_s": round(r.sustained_per_s, 1),
                "redis_commands_per_payment": round(r.redis_commands_per_payment, 2),
                "postgres_transactions_per_payment": round(r.postgres_tx_per_payment, 2),
                "round_trips_per_payment": {
                    k: round(v, 2) for k, v in r.round_trips_per_payment.items()
                },
                "modelled_per_payment": r.modelled,
                "cpu_ms_per_payment": r.cpu_ms_per_payment,
                "levels": [asdict(lv) for lv in r.levels],
            }
            for r in results
        },
        "ratio_hardened_to_bare": None if ratio is None else round(ratio, 3),
        "target_ratio": 0.6,
        "components": {k: round(v, 1) for k, v in comps.items()},
    }


def _render(s: dict[str, Any]) -> str:
    lines = [
        f"# payharness bench live ({s['machine']['cpus']} CPUs, {s['servers_per_endpoint']} "
        f"server processes per endpoint, p99 SLO {s['slo_ms']:.0f} ms)",
        "",
        "| endpoint | sustained payments/s | Redis cmds/payment (measured) | Postgres tx/payment "
        "(measured) | Redis / PG round trips/payment (measured, adapters) "
        "| Redis ops / PG statements (core flow) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, e in s["endpoints"].items():
        m = e["modelled_per_payment"]
        rt = e.get("round_trips_per_payment", {})
        lines.append(
            f"| {name} | {e['sustained_payments_per_s']} | {e['redis_commands_per_payment']} | "
            f"{e['postgres_transactions_per_payment']} | {rt.get('redis')} / "
            f"{rt.get('postgres')} | {m.get('redis')} / {m.get('postgres')} |"
        )
    lines += [
        "",
        "CPU milliseconds per payment, by component (the 2-core machine's budget is "
        f"{1000 * (s['machine']['cpus'] or 1)} ms of CPU per second):",
        "",
        "| endpoint | servers | mock | redis | postgres | generator |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, e in s["endpoints"].items():
        c = e.get("cpu_ms_per_payment", {})
        lines.append(
            f"| {name} | {c.get('servers')} | {c.get('mock')} | {c.get('redis')} | "
            f"{c.get('postgres')} | {c.get('generator')} |"
        )
    ratio = s["ratio_hardened_to_bare"]
    lines += [
        "",
        f"hardened / bare = {ratio if ratio is not None else 'n/a'} (target >= 0.6)",
        "",
        "| component (same run) | per second |",
        "| --- | --- |",
    ]
    lines += [f"| {k} | {v} |" for k, v in s["components"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
