"""The open-loop ramp: offer a fixed rate of new payments for a few seconds, judge the level
against the SLO, and choose the next rate (up by ``growth``, then bisecting the knee).

Latency is measured from each request's *scheduled* send time, so queueing in the generator
counts against the endpoint."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from loadtests.rawhttp import HTTPError, RawClient
from sim import knee

MAX_IN_FLIGHT = 256
"""Requests one level keeps open at most (one connection each). A request
due while this many are unanswered is not sent and counts as an error with infinite latency:
an endpoint that far behind has failed the level, and queueing thousands of requests in the
HTTP client's pool costs the generator quadratic CPU time (minutes for one level)."""

KEEP_UP = 0.9
"""A level keeps up when it achieves at least this share of the rate it was offered; above
the knee throughput stops following the offered load. The sim report's knee uses it too."""

WARMUP = 5
"""Payments each level's warm-up sends (new client, fresh mock) before the measured load."""


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
    send_lag_p99_ms: float = float("nan")
    """How late the generator sent its requests (p99 of send time minus scheduled time): on
    a busy host the generator itself waits for a core, and that lag counts in every latency
    above."""


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
    auth: Mapping[str, str] | None = None,
    make: Callable[[int], tuple[str, dict[str, object]]] | None = None,
    statuses: list[int] | None = None,
) -> Level:
    """Send ``rate`` new payments per second for ``seconds``, open loop, with ``auth`` (the
    merchant's ``Authorization`` header) on every request. ``make(i)`` gives request ``i``'s
    key and body instead of a new payment's (a replay, a reused key); ``statuses``, when
    given, receives every answer's status."""
    loop = asyncio.get_running_loop()
    n = max(1, int(rate * seconds))
    latencies: list[float] = []
    lags: list[float] = []
    statuses = [] if statuses is None else statuses
    done_at: list[float] = []
    rng = random.Random()
    in_flight = 0
    urls = [f"{t}/payments" for t in targets]
    sent = dict(auth or {})

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

    def new_payment(_i: int) -> tuple[str, dict[str, object]]:
        body: dict[str, object] = {
            "merchant": merchant,
            "order": f"o-{uuid.uuid4().hex[:16]}",
            "amount": rng.randint(100, 99_999),
            "currency": "usd",
            "source": "tok_visa",
        }
        return f"{merchant}-k-{uuid.uuid4().hex}", body

    request_of = make or new_payment

    async def _send(due: float, i: int) -> None:
        lags.append((loop.time() - due) * 1000)
        key, body = request_of(i)
        try:
            status = await client.post(
                urls[i % len(urls)], json.dumps(body).encode(), {**sent, "Idempotency-Key": key}
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
    held = p99 < slo_ms and errors <= max(1, 0.01 * n) and keeps_up(rate, achieved)
    return Level(
        rate, n, ok, errors, achieved, _quantile(latencies, 0.5), p99, held,
        _quantile(lags, 0.99),
    )  # fmt: skip


def keeps_up(rate: float, achieved: float) -> bool:
    """Throughput still follows the offered load (``KEEP_UP``)."""
    return achieved >= KEEP_UP * rate


async def ramp(
    targets: Sequence[str],
    merchant: str,
    args: argparse.Namespace,
    echo: Callable[[str], None],
    auth: Mapping[str, str] | None = None,
) -> list[Level]:
    """One endpoint's whole ramp on one client (``--order sequential``)."""
    levels: list[Level] = []
    async with RawClient(timeout_s=10.0, max_idle=MAX_IN_FLIGHT) as client:
        await offer(client, targets, 5, 1.0, merchant, 1e9, auth)  # warm connections and pools
        rate: float | None = args.start_rate
        while rate is not None:
            level = await offer(
                client, targets, rate, args.level_seconds, merchant, args.slo_ms, auth
            )
            levels.append(level)
            echo("    " + describe(level))
            rate = next_rate(levels, args)
            await asyncio.sleep(1.0)
    return levels


async def one_level(
    targets: Sequence[str],
    merchant: str,
    rate: float,
    args: argparse.Namespace,
    auth: Mapping[str, str] | None = None,
) -> Level:
    """One rate level with its own client, after a warm-up of ``WARMUP`` payments."""
    async with RawClient(timeout_s=10.0, max_idle=MAX_IN_FLIGHT) as client:
        await offer(client, targets, WARMUP, 1.0, merchant, 1e9, auth)
        return await offer(client, targets, rate, args.level_seconds, merchant, args.slo_ms, auth)


def next_rate(levels: list[Level], args: argparse.Namespace) -> float | None:
    """The rate to offer next, or None when the knee is found (``sim.knee.next_rate``):
    up by ``--growth``, then at most ``--bisect`` bisections.

    A level that fails is offered once more before its rate counts as failed: a level's p99
    is about its third-worst latency, and one pause of a shared machine (a collection in the
    mock, another process) can push it over once. Seen here: bare over at 44.8/s, then
    holding 410/s in the next run. Every endpoint's ramp follows the same rule."""
    return knee.next_rate(
        levels, growth=args.growth, max_rate=args.max_rate, bisect=args.bisect,
        repeat_failures=True,
    )  # fmt: skip


def sustained(levels: list[Level]) -> float:
    held = [lv.achieved for lv in levels if lv.held]
    return max(held) if held else 0.0


def describe(level: Level) -> str:
    return (
        f"{level.rate:7.1f}/s offered: {level.achieved:7.1f}/s ok, p50 {level.p50_ms:6.1f}"
        f" ms, p99 {level.p99_ms:7.1f} ms, errors {level.errors}"
        + ("" if level.held else "  <- over")
    )
