"""The audit source the load harness uses (``live_final_state`` → ``core.checker.check``), the
seed variant served live, and ``payharness stack up | status | down`` end to end."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from core.checker import check
from core.domain import PaymentRequest, PaymentState, Response
from core.history import Event, FinalState, request_event, response_event
from live.audit_source import live_final_state
from live.config import LiveConfig
from live.redis_store import response_from_json
from tests.live.conftest import LiveRun
from tests.live.helpers import (
    KEYRING,
    Answer,
    body_for,
    mock_charges,
    post,
    rows_for,
    unique,
)
from tests.live.stack import REPO, ServerPool, free_port
from tests.live.test_live_service import reconcile_now

pytestmark = [
    pytest.mark.live,
    # stripe-python's HTTPX client posts form bodies with data=bytes; httpx deprecates that.
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]


def only_merchant(final: FinalState, merchant: str) -> FinalState:
    payments = tuple(p for p in final.payments if p.merchant == merchant)
    ids = {p.id for p in payments}
    return replace(
        final,
        payments=payments,
        orders={k: v for k, v in final.orders.items() if k[0] == merchant},
        charges=tuple(c for c in final.charges if c.merchant == merchant),
        transitions=tuple(t for t in final.transitions if t.payment_id in ids),
    )


def test_live_final_state_feeds_the_checker(live: LiveRun, three_servers: list[str]) -> None:
    merchant = unique("m-audit-")
    plan = [
        (unique("k-"), body_for(merchant, "o-1")),
        (unique("k-"), body_for(merchant, "o-2", source="tok_chargeDeclined")),
        (unique("k-"), body_for(merchant, "o-3", source="tok_500")),
    ]
    events: list[Event] = []

    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            for i, (key, body) in enumerate(plan * 2):
                request = PaymentRequest.from_json(body, key)
                attempt = f"a{i}"
                t = time.time_ns() // 1_000_000
                events.append(request_event(t, attempt, "c", request))
                answer = await post(client, three_servers[i % 3], key, body)
                response = _as_response(answer.status, answer.body, answer.replayed)
                events.append(response_event(t + 1, attempt, "c", request, response))

    asyncio.run(scenario())
    asyncio.run(reconcile_now(live))
    events.append(Event(t=time.time_ns() // 1_000_000, kind="phase", detail="settle"))

    final = only_merchant(asyncio.run(live_final_state(live.config, variant="hardened")), merchant)
    assert final.charges_listed
    assert len(final.payments) == 3
    states = {p.order: p.state for p in final.payments}
    assert states == {
        "o-1": PaymentState.COMPLETED,
        "o-2": PaymentState.FAILED,
        "o-3": PaymentState.FAILED,
    }
    assert list(final.orders) == [(merchant, "o-1")]
    assert {c.order for c in final.charges} == {"o-1", "o-2"}
    assert any(t.target is PaymentState.COMPLETED for t in final.transitions)
    verdict = check(events, final)
    assert verdict.ok, verdict.render()

    # The same audit must catch a phantom: a provider charge with no payment row.
    phantom = replace(final, payments=tuple(p for p in final.payments if p.order != "o-1"))
    assert not check(events, phantom).ok


def _as_response(status: int, body: dict[str, object], replayed: bool) -> Response:
    from core.domain import Outcome

    payment = body.get("payment")
    fields: dict[str, object] = {
        "status": status,
        "outcome": Outcome(body["status"]) if "status" in body else Outcome.ERROR,
        "code": body.get("code", ""),
        "message": body.get("message", ""),
        "replayed": replayed,
    }
    if isinstance(payment, dict):
        fields.update(
            payment_id=payment["id"],
            merchant=payment["merchant"],
            order=payment["order"],
            amount=payment["amount"],
            currency=payment["currency"],
            charge_id=payment["charge"],
        )
    import json

    return response_from_json(json.dumps({**_defaults(), **fields, "outcome": fields["outcome"]}))


def _defaults() -> dict[str, object]:
    return {
        "payment_id": None,
        "merchant": None,
        "order": None,
        "amount": None,
        "currency": None,
        "charge_id": None,
        "fingerprint": None,
        "retry_after_s": None,
    }


def test_seed_variant_served_live_replays_a_reused_key(live: LiveRun, servers: ServerPool) -> None:
    """The seed has no fingerprint check: a key reused with another amount gets the first
    payment replayed (the diagrams' behaviour), where hardened answers 422."""
    seed = servers.start({"PAYHARNESS_VARIANT": "seed"})
    url = f"http://127.0.0.1:{seed.port}"
    merchant, key = unique("m-seed-"), unique("k-")

    async def scenario() -> tuple[object, object]:
        async with httpx.AsyncClient(timeout=30) as client:
            health = (await client.get(f"{url}/healthz")).json()
            assert health["variant"] == "seed"
            first = await post(client, url, key, body_for(merchant, "o-1", 1999))
            reused = await post(client, url, key, body_for(merchant, "o-1", 2999))
            return first, reused

    first, reused = asyncio.run(scenario())
    assert first.status == 201  # type: ignore[attr-defined]
    assert reused.status == 201 and reused.replayed  # type: ignore[attr-defined]
    assert reused.body == first.body  # type: ignore[attr-defined]


def test_stack_up_status_down(live: LiveRun, tmp_path: Path) -> None:
    """The launcher starts the mock, one server and the reconciler, reports them, and stops
    exactly those processes."""
    out = tmp_path / "out"
    env = {
        **os.environ,
        **live.config.to_env(),
        "PAYHARNESS_OUT": str(out),
    }
    env.pop("PAYHARNESS_STRIPE_API_BASE")
    ports = ["--base-port", str(free_port()), "--mock-port", str(free_port())]

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "payharness", "stack", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    up = cli("up", "--servers", "1", *ports, "--reconcile-every", "1")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        import json

        state = json.loads((out / "stack" / "state.json").read_text())
        pids = [p["pid"] for p in state["processes"]]
        assert [p["name"] for p in state["processes"]] == [
            "stripe-mock",
            "server-0",
            "reconciler-hardened",
        ]
        recorded = LiveConfig.from_stack_state(out / "stack" / "state.json", env={})
        assert recorded.db_schema == live.config.db_schema
        assert recorded.stripe_api_base == f"http://127.0.0.1:{ports[3]}"
        fresh = asyncio.run(live_final_state(recorded))
        assert fresh.charges_listed and fresh.charges == ()  # the stack's own, new mock
        status = cli("status")
        assert status.returncode == 0 and "ready" in status.stdout, status.stdout
        again = cli("up", "--servers", "1", *ports)
        assert again.returncode == 1 and "already up" in again.stdout
    finally:
        down = cli("down")
    assert down.returncode == 0, down.stdout + down.stderr
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), f"pid {pid} still running"
    assert cli("status").returncode == 1


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_stateless_provider_audit_counts_the_call_log(
    live: LiveRun, servers: ServerPool, tmp_path: Path
) -> None:
    """With a provider that cannot list charges, the adapter's call log is the charge list
    and the final state says ``charges_listed=False``."""
    log = tmp_path / "calls.jsonl"
    server = servers.start(
        {"PAYHARNESS_STRIPE_LISTS_CHARGES": "0", "PAYHARNESS_STRIPE_CALL_LOG": str(log)}
    )
    url = f"http://127.0.0.1:{server.port}"
    merchant, key = unique("m-stateless-"), unique("k-")

    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            for _ in range(3):
                await post(client, url, key, body_for(merchant, "o-1"))
            await post(client, url, unique("k-"), body_for(merchant, "o-2", source="tok_500"))

    asyncio.run(scenario())
    config = live.config.with_changes(stripe_lists_charges=False, stripe_call_log=str(log))
    final = only_merchant(asyncio.run(live_final_state(config, variant="hardened")), merchant)
    assert final.charges_listed is False
    assert [(c.order, c.succeeded) for c in final.charges] == [("o-1", True)]
    assert len(log.read_text().splitlines()) == 2  # one charge call, one 500; replays hit Redis


def test_get_payment_health_and_readiness(live: LiveRun, three_servers: list[str]) -> None:
    merchant, key = unique("m-get-"), unique("k-")
    url = three_servers[1]

    async def scenario() -> tuple[object, httpx.Response, httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            made = await post(client, url, key, body_for(merchant, "o-1"))
            pid = made.body["payment"]["id"]
            auth = KEYRING.auth(merchant)
            found = await client.get(f"{url}/payments/{pid}", headers=auth)
            missing = await client.get(f"{url}/payments/pay_nope", headers=auth)
            ready = await client.get(f"{url}/readyz")
            return made, found, missing, ready

    made, found, missing, ready = asyncio.run(scenario())
    assert found.status_code == 200
    row = found.json()
    assert row["state"] == "COMPLETED" and row["charge"] == made.body["payment"]["charge"]  # type: ignore[attr-defined]
    assert missing.status_code == 404 and missing.json()["code"] == "payment_not_found"
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"redis": "ok", "postgres": "ok", "stripe": "ok"}


def test_stats_count_one_round_trip_per_effect(live: LiveRun, three_servers: list[str]) -> None:
    """A new payment in hardened: the get-or-lock script and the put-and-release script
    (2 Redis round trips);
    Postgres PENDING insert (no find first: the insert's unique indexes are the lookup) and
    the completion transaction of three writes sent as one ``ph_apply()`` call (2 round trips;
    no BEGIN or COMMIT exchange, no second statement per transition); plus the API key's
    lookup by key id (1 Postgres round trip per request, before the flow)."""
    url = three_servers[2]

    async def scenario() -> tuple[dict[str, int], Answer, dict[str, int]]:
        async with httpx.AsyncClient(timeout=30) as client:
            before = (await client.get(f"{url}/stats")).json()
            made = await post(client, url, unique("k-"), body_for(unique("m-stats-"), "o-1"))
            after = (await client.get(f"{url}/stats")).json()
            return before, made, after

    before, made, after = asyncio.run(scenario())
    assert made.status == 201 and not made.replayed
    assert after["redis_round_trips"] - before["redis_round_trips"] == 2
    assert after["postgres_round_trips"] - before["postgres_round_trips"] == 2 + 1  # + the key
    assert after["postgres_pool"]["pool_max"] == live.config.pool_max


def test_unreachable_provider_is_not_ready_and_never_a_final_failure(
    live: LiveRun, servers: ServerPool
) -> None:
    """The provider refuses connections: /readyz says which backend, a payment is answered
    503 (nothing final), its row stays PENDING for the reconciler, and no charge exists."""
    dead = f"http://127.0.0.1:{free_port()}"
    server = servers.start({"PAYHARNESS_STRIPE_API_BASE": dead}, ready_path="/healthz")
    url = f"http://127.0.0.1:{server.port}"
    merchant, key = unique("m-down-"), unique("k-")

    async def scenario() -> tuple[httpx.Response, object]:
        async with httpx.AsyncClient(timeout=30) as client:
            ready = await client.get(f"{url}/readyz")
            answer = await post(client, url, key, body_for(merchant, "o-1"))
            return ready, answer

    ready, answer = asyncio.run(scenario())
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["redis"] == "ok" and checks["postgres"] == "ok"
    assert checks["stripe"].startswith("unavailable")
    assert answer.status == 503 and answer.body["status"] == "error"  # type: ignore[attr-defined]
    rows = asyncio.run(rows_for(live.config, merchant))
    assert [r.state for r in rows] == [PaymentState.PENDING]
    assert asyncio.run(mock_charges(live.config, merchant)) == []


def test_seed_loses_a_charge_when_killed_between_charge_and_save(
    live: LiveRun, servers: ServerPool
) -> None:
    """The seed saves only after charging: a SIGKILL in between leaves a charge with no row,
    which no reconciliation finds. The live audit and the checker must say so (E3)."""
    seed = servers.start(
        {
            "PAYHARNESS_VARIANT": "seed",
            "PAYHARNESS_FAULTS": "after_charge=crash",
            "PAYHARNESS_FAULT_KEYS": "crash-",
        }
    )
    merchant, key = unique("m-seedkill-"), unique("crash-")
    body = body_for(merchant, "o-1")
    request = PaymentRequest.from_json(body, key)

    async def doomed() -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            with pytest.raises(httpx.HTTPError):
                await post(client, f"http://127.0.0.1:{seed.port}", key, body)

    asyncio.run(doomed())
    assert seed.popen.wait(10) < 0
    seed_run = LiveRun(live.config.with_changes(variant="seed"), live.log_dir, live.run_id)
    asyncio.run(reconcile_now(seed_run))
    final = only_merchant(asyncio.run(live_final_state(seed_run.config, variant="seed")), merchant)
    assert [c.succeeded for c in final.charges] == [True] and final.payments == ()
    events = [request_event(0, "a0", "c", request)]
    verdict = check(events, final)
    assert "E3" in verdict.broken(), verdict.render()


def test_hardened_keeps_charging_once_with_redis_unreachable(
    live: LiveRun, servers: ServerPool
) -> None:
    """Redis refuses connections: hardened carries on (Postgres constraints decide), so
    duplicates still make one charge and replay it from the database."""
    server = servers.start(
        {"PAYHARNESS_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}, ready_path="/healthz"
    )
    url = f"http://127.0.0.1:{server.port}"
    merchant, key = unique("m-noredis-"), unique("k-")
    body = body_for(merchant, "o-1")

    async def scenario() -> tuple[httpx.Response, list[object]]:
        async with httpx.AsyncClient(timeout=30) as client:
            ready = await client.get(f"{url}/readyz")
            answers = [await post(client, url, key, body) for _ in range(3)]
            return ready, answers

    ready, answers = asyncio.run(scenario())
    assert ready.status_code == 503 and ready.json()["checks"]["redis"] != "ok"
    assert [a.status for a in answers] == [201, 201, 201]  # type: ignore[attr-defined]
    assert [a.replayed for a in answers] == [False, True, True]  # type: ignore[attr-defined]
    assert len({str(a.body) for a in answers}) == 1  # type: ignore[attr-defined]
    assert len(asyncio.run(mock_charges(live.config, merchant))) == 1
