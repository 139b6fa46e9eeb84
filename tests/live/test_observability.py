"""``GET /metrics`` on a stack ``live.stack.bring_up`` started (two servers and a reconciler
writing one multi-process folder), and the servers' JSON request log: counters and histograms
move by exactly what the requests did, and the log never holds the raw key or the source."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from live.stack import StackOptions, bring_up, take_down
from live.stack_state import StackState
from tests.live.conftest import LiveRun
from tests.live.helpers import auth_for, body_for, post, unique
from tests.live.stack import free_port

pytestmark = [
    pytest.mark.live,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(server: str) -> Samples:
    text = httpx.get(f"{server}/metrics", timeout=10).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(scope="module")
def stack_state(live: LiveRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackState]:
    """Two hardened servers, the mock and a reconciler every second, in their own output
    folder; keys starting ``slow-`` pause 1 s after the charge (so a second request meets the
    lock)."""
    out = tmp_path_factory.mktemp("obs-out")
    env = {
        **os.environ,
        **live.config.to_env(),
        "PAYHARNESS_OUT": str(out),
        "PAYHARNESS_FAULTS": "after_charge=pause:1000",
        "PAYHARNESS_FAULT_KEYS": "slow-",
    }
    env.pop("PAYHARNESS_STRIPE_API_BASE")
    options = StackOptions(
        servers=2, base_port=free_port(), mock_port=free_port(), reconcile_every_s=1.0
    )
    if options.base_port + 1 == options.mock_port:
        pytest.skip("free ports overlap; rerun")
    state = bring_up(options, env, echo=lambda _: None)
    try:
        yield state
    finally:
        take_down(env)


@pytest.fixture(scope="module")
def stack(stack_state: StackState) -> list[str]:
    return list(stack_state["servers"])


def test_metrics_move_by_what_the_requests_did(stack: list[str]) -> None:
    a, b = stack
    before = scrape(b)
    merchant, key = unique("obs-m-"), unique("obs-k-")
    body = body_for(merchant, unique("o-"))

    async def pay_twice() -> tuple[int, int, bool]:
        async with httpx.AsyncClient(timeout=30) as client:
            first = await post(client, a, key, body)
            replay = await post(client, a, key, body)
        return first.status, replay.status, replay.replayed

    assert asyncio.run(pay_twice()) == (201, 201, True)
    after = scrape(b)  # the other server: the scrape covers every process of the stack

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    req = "payharness_http_request_duration_seconds_count"
    assert moved(req, route="/payments", status="201", outcome="paid") == 2
    assert moved("payharness_replays_total") == 1
    assert moved("payharness_lock_conflicts_total") == 0
    effect = "payharness_effect_duration_seconds_count"
    assert moved(effect, component="provider", effect="ProviderCharge") == 1
    assert moved(effect, component="redis", effect="CacheGetOrLock") == 2
    assert moved(effect, component="postgres", effect="PaymentInsert") == 1
    assert moved(effect, component="postgres", effect="Authenticate") == 2
    assert moved("payharness_lock_wait_seconds_count") == 2


def test_a_request_that_meets_the_lock_is_a_409_and_a_lock_wait(stack: list[str]) -> None:
    a, b = stack
    before = scrape(a)
    merchant, key = unique("obs-m-"), unique("slow-")
    body = body_for(merchant, unique("o-"))

    async def race() -> list[int]:
        async with httpx.AsyncClient(timeout=30) as client:
            first = asyncio.create_task(post(client, a, key, body))
            await asyncio.sleep(0.3)  # the first holds the lock while it pauses after charging
            second = await post(client, b, key, body)
            return sorted([(await first).status, second.status])

    assert asyncio.run(race()) == [201, 409]
    after = scrape(a)
    assert (
        value(after, "payharness_lock_conflicts_total")
        - value(before, "payharness_lock_conflicts_total")
        == 1
    )
    waited = value(after, "payharness_lock_wait_seconds_sum") - value(
        before, "payharness_lock_wait_seconds_sum"
    )
    assert waited > 0  # the 409 slept between its lock attempts


def test_the_reconciler_reports_its_backlog_and_runs(stack: list[str]) -> None:
    samples: Samples = {}
    for _ in range(50):  # the reconciler runs every second; bounded by count, not time
        samples = scrape(stack[0])
        if value(samples, "payharness_reconciler_actions_total", action="run") >= 2:
            break
        time.sleep(0.2)
    assert value(samples, "payharness_reconciler_actions_total", action="run") >= 2
    cells = {
        dict(labels)["age"]
        for name, labels in samples
        if name == "payharness_reconciler_backlog" and dict(labels)["state"] == "RECONCILE"
    }
    assert cells == {"<1m", "1-10m", ">10m"}


def test_one_json_log_line_per_request_without_the_key_or_the_source(
    stack_state: StackState,
) -> None:
    server = stack_state["servers"][0]
    merchant, key = unique("obs-m-"), unique("obs-secret-key-")
    source = "tok_mastercard"
    body = body_for(merchant, unique("o-"), source=source)

    async def pay() -> httpx.Headers:
        async with httpx.AsyncClient(timeout=30) as client:
            r = await client.post(
                f"{server}/payments",
                json=body,
                headers={"Idempotency-Key": key, **auth_for(body)},
            )
            assert r.status_code == 201
            return r.headers

    request_id = asyncio.run(pay())["x-request-id"]
    log = _server_log(stack_state, server)
    lines = [json.loads(line) for line in _lines_until(log, request_id)]
    mine = [line for line in lines if line.get("request_id") == request_id]
    assert len(mine) == 1
    line = mine[0]
    assert line["route"] == "/payments" and line["status"] == 201 and line["outcome"] == "paid"
    assert line["merchant"] == merchant and line["key_digest"].startswith("s1-")
    assert [e["effect"] for e in line["effects"]][:2] == ["Authenticate", "CacheGetOrLock"]
    text = log.read_text()
    assert key not in text
    assert source not in text


def _server_log(state: StackState, server: str) -> Path:
    port = int(server.rsplit(":", 1)[1])
    return next(Path(e["log"]) for e in state["processes"] if e.get("port") == port)


def _lines_until(log: Path, request_id: str) -> list[str]:
    """The log's JSON lines once the request's line is written (bounded by count)."""
    for _ in range(50):
        lines = [x for x in log.read_text().splitlines() if x.startswith("{")]
        if any(request_id in x for x in lines):
            return lines
        time.sleep(0.1)
    return lines
