"""What one endpoint costs while it is under load: Redis commands, Postgres transactions, the
servers' own round-trip counts, and CPU seconds per component read from ``/proc``.

A ``Meter`` sums these over every period its endpoint was under load, so interleaved levels
of several endpoints are each charged to the right one."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from loadtests.bench.ramp import Level, sustained
from loadtests.bench.results import EndpointResult, modelled_effects
from loadtests.proc_stat import pids_named, process_cpu_s

CpuSnapshot = dict[str, dict[int, float]]
"""CPU seconds per process, by component (servers, mock, redis, postgres, generator)."""


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
    """A process's CPU seconds, 0 when it is gone (a snapshot keeps every pid it was given)."""
    return process_cpu_s(pid) or 0.0


def cpu_snapshot(groups: dict[str, list[int]], database: str | None = None) -> CpuSnapshot:
    """CPU seconds per process of each component (servers, mock, redis, postgres, generator).
    postgres counts every backend on the machine, so other work there shows up in it; given
    ``database`` (the bench's own), only that database's backends: on a shared host other
    engineers' queries (0.6 ms per request in one calibration run, 2026-12-06) otherwise land
    on whichever endpoint is measured, and the shared background processes (WAL writer,
    checkpointer) are left out."""
    snap = {name: {pid: _cpu_s(pid) for pid in pids} for name, pids in groups.items()}
    snap["postgres"] = {pid: _cpu_s(pid) for pid in pids_named("postgres", database)}
    snap["generator"] = {os.getpid(): _cpu_s(os.getpid())}
    return snap


def cpu_used_s(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
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
    auth: dict[str, str] = field(default_factory=dict)
    """The ``Authorization`` header of the endpoint's merchant (none for ``bare``)."""

    def add(
        self,
        cpu0: CpuSnapshot,
        cpu1: CpuSnapshot,
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

    def result(self) -> EndpointResult:
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
