"""The live stack's must-shows: the seed's architecture (three servers, one Redis, one Postgres,
the Stripe mock) under concurrent duplicates, key reuse, provider errors, a SIGKILL between
charge and commit, and Redis losing its keys mid-run."""

from __future__ import annotations

import asyncio
import signal

import httpx
import pytest

from core.domain import PaymentRequest, PaymentState
from core.flows.payment import RedisKeys
from live.reconciler import reconcile_once
from live.redis_store import RedisStore
from live.transport import LiveTransport
from tests.live.conftest import SLOW_KEYS, LiveRun
from tests.live.helpers import (
    KEYRING,
    body_for,
    mock_charges,
    post,
    post_until_settled,
    rows_for,
    unique,
)
from tests.live.stack import ServerPool

pytestmark = [
    pytest.mark.live,
    # stripe-python's HTTPX client posts form bodies with data=bytes; httpx deprecates that.
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]

CONCURRENCY = 50


async def reconcile_now(run: LiveRun) -> None:
    """One reconciliation run that treats every unsettled row as stale and past every
    server's request deadline: the test's own requests have all been answered."""
    variant = run.config.resolve_variant()
    variant = variant.with_changes(
        variant.name, variant.summary, stale_after_ms=0, request_deadline_ms=0
    )
    transport = LiveTransport(run.config, variant)
    await transport.open()
    try:
        await reconcile_once(transport, variant)
    finally:
        await transport.close()


def test_fifty_concurrent_same_key_over_three_servers(
    live: LiveRun, three_servers: list[str]
) -> None:
    merchant, key = unique("m-conc-"), unique("k-")
    body = body_for(merchant, "order-1")

    async def scenario() -> list[tuple[object, list[object]]]:
        async with httpx.AsyncClient(timeout=30) as client:
            return await asyncio.gather(
                *(
                    post_until_settled(client, three_servers[i % 3], key, body)
                    for i in range(CONCURRENCY)
                )
            )

    results = asyncio.run(scenario())
    finals = [final for final, _ in results]
    firsts = [seen[0] for _, seen in results]
    assert {f.status for f in finals} == {201}, [(f.status, f.body) for f in finals]
    assert all(f.body == finals[0].body for f in finals), "every response carries the same body"
    fresh = [f for f in finals if not f.replayed]
    assert len(fresh) == 1, f"exactly one original 201, got {len(fresh)}"
    assert {a.status for a in firsts} <= {201, 409}
    assert all(a.retry_after is not None for a in firsts if a.status == 409)
    assert len({a.server for a in firsts}) == 3

    charges = asyncio.run(mock_charges(live.config, merchant))
    rows = asyncio.run(rows_for(live.config, merchant))
    assert len(charges) == 1, charges
    assert len(rows) == 1 and rows[0].state is PaymentState.COMPLETED
    assert rows[0].charge_id == charges[0]["id"] == finals[0].body["payment"]["charge"]


def test_key_reused_with_another_payload_is_422_and_charges_nothing(
    live: LiveRun, three_servers: list[str]
) -> None:
    merchant, key = unique("m-reuse-"), unique("k-")

    async def scenario() -> tuple[object, ...]:
        async with httpx.AsyncClient(timeout=30) as client:
            first = await post(client, three_servers[0], key, body_for(merchant, "o-1", 1999))
            other_amount = await post(
                client, three_servers[1], key, body_for(merchant, "o-1", 2999)
            )
            other_order = await post(client, three_servers[2], key, body_for(merchant, "o-2", 1999))
            again = await post(client, three_servers[2], key, body_for(merchant, "o-1", 1999))
            return first, other_amount, other_order, again

    first, other_amount, other_order, again = asyncio.run(scenario())
    assert first.status == 201 and not first.replayed  # type: ignore[attr-defined]
    for refused in (other_amount, other_order):
        assert refused.status == 422, refused  # type: ignore[attr-defined]
        assert refused.body["code"] == "idempotency_key_reused"  # type: ignore[attr-defined]
        assert refused.body["message"]  # type: ignore[attr-defined]
    assert again.status == 201 and again.replayed and again.body == first.body  # type: ignore[attr-defined]
    charges = asyncio.run(mock_charges(live.config, merchant))
    assert len(charges) == 1 and charges[0]["amount"] == 1999


def test_bad_keys_and_bodies_are_400_with_code_and_message(
    live: LiveRun, three_servers: list[str]
) -> None:
    merchant = unique("m-bad-")
    server = three_servers[0]

    async def scenario() -> list[object]:
        async with httpx.AsyncClient(timeout=30) as client:
            return [
                await post(client, server, None, body_for(merchant, "o")),
                await post(client, server, "", body_for(merchant, "o")),
                await post(client, server, "x" * 256, body_for(merchant, "o")),
                await post(client, server, unique("k-"), {"merchant": merchant}),
                await post(client, server, unique("k-"), body_for(merchant, "o", amount=0)),
                await post(client, server, unique("k-"), [1, 2], KEYRING.auth(merchant)),
            ]

    answers = asyncio.run(scenario())
    for a in answers:
        assert a.status == 400, a  # type: ignore[attr-defined]
        assert a.body["code"] and a.body["message"]  # type: ignore[attr-defined]
    assert answers[0].body["code"] == "idempotency_key_missing"  # type: ignore[attr-defined]
    assert asyncio.run(mock_charges(live.config, merchant)) == []


@pytest.mark.parametrize("source", ["tok_500", "tok_429"])
def test_provider_500_and_429_are_never_final_and_reconcile_to_the_mock(
    live: LiveRun, three_servers: list[str], source: str
) -> None:
    merchant, key = unique(f"m-{source}-"), unique("k-")
    body = body_for(merchant, "o-1", source=source)

    async def before() -> list[object]:
        async with httpx.AsyncClient(timeout=30) as client:
            return [await post(client, s, key, body) for s in three_servers]

    answers = asyncio.run(before())
    for a in answers:
        assert a.body["status"] not in ("paid", "failed"), a  # type: ignore[attr-defined]
        assert a.status in (202, 503), a  # type: ignore[attr-defined]

    asyncio.run(reconcile_now(live))

    charges = asyncio.run(mock_charges(live.config, merchant))
    rows = asyncio.run(rows_for(live.config, merchant))
    assert len(rows) == 1
    succeeded = [c for c in charges if c["status"] == "succeeded"]
    assert len(succeeded) <= 1
    expected = PaymentState.COMPLETED if succeeded else PaymentState.FAILED
    assert rows[0].state is expected, (rows, charges)
    if succeeded:
        assert rows[0].charge_id == succeeded[0]["id"]

    async def after() -> object:
        async with httpx.AsyncClient(timeout=30) as client:
            return await post(client, three_servers[0], key, body)

    final = asyncio.run(after())
    assert final.status == (201 if succeeded else 402), final  # type: ignore[attr-defined]
    assert final.body["payment"]["id"] == rows[0].id  # type: ignore[attr-defined]


def test_sigkill_between_charge_and_commit_then_reconcile(
    live: LiveRun, servers: ServerPool
) -> None:
    merchant, key = unique("m-kill-"), unique("crash-")
    body = body_for(merchant, "o-1")
    # A short lock TTL so the dead server's lock expires within the test; everything else is
    # the hardened design.
    crashing = servers.start(
        {
            "PAYHARNESS_FAULTS": "after_charge=crash",
            "PAYHARNESS_FAULT_KEYS": "crash-",
            "PAYHARNESS_VARIANT_OVERRIDES": "lock_ttl_ms=1500",
        }
    )
    url = f"http://127.0.0.1:{crashing.port}"

    async def doomed() -> BaseException | None:
        async with httpx.AsyncClient(timeout=30) as client:
            try:
                await post(client, url, key, body)
            except httpx.HTTPError as exc:
                return exc
        return None

    assert isinstance(asyncio.run(doomed()), httpx.HTTPError)
    assert crashing.popen.wait(10) == -signal.SIGKILL

    charges = asyncio.run(mock_charges(live.config, merchant))
    rows = asyncio.run(rows_for(live.config, merchant))
    assert len(charges) == 1 and charges[0]["status"] == "succeeded", "charged before the crash"
    assert len(rows) == 1 and rows[0].state is PaymentState.PENDING, "nothing saved after it"

    restarted = servers.start(port=crashing.port)
    asyncio.run(reconcile_now(live))
    rows = asyncio.run(rows_for(live.config, merchant))
    assert rows[0].state is PaymentState.COMPLETED and rows[0].charge_id == charges[0]["id"]

    async def retry() -> object:
        async with httpx.AsyncClient(timeout=30) as client:
            final, _ = await post_until_settled(
                client, f"http://127.0.0.1:{restarted.port}", key, body
            )
            return final

    final = asyncio.run(retry())
    assert final.status == 201 and final.replayed, final  # type: ignore[attr-defined]
    assert final.body["payment"]["charge"] == charges[0]["id"]  # type: ignore[attr-defined]
    assert len(asyncio.run(mock_charges(live.config, merchant))) == 1


def test_redis_losing_its_keys_mid_run_causes_no_second_charge(
    live: LiveRun, three_servers: list[str]
) -> None:
    """Our prefix's keys are deleted (SCAN + UNLINK) while every first request sits between its
    charge and its commit (fault point ``after_charge=pause:1000`` on ``slow-`` keys), and again
    after: duplicates then find no lock and no cached answer. Only our prefix is deleted, never
    FLUSHALL/FLUSHDB, so other users of this Redis are untouched."""
    merchant = unique("m-flush-")
    keys = [unique(SLOW_KEYS) for _ in range(8)]
    store = RedisStore(live.config.redis_url, live.config.redis_prefix)

    async def lock_held(key: str) -> bool:
        for _ in range(200):
            request = PaymentRequest.from_json(body_for(merchant, "o"), key)
            lock = RedisKeys.for_request(live.config.resolve_variant(), request).lock
            if await store.client.exists(store.k(lock)):
                return True
            await asyncio.sleep(0.01)
        return False

    async def scenario() -> tuple[list[object], int, int]:
        async with httpx.AsyncClient(timeout=30) as client:
            firsts = [
                asyncio.create_task(
                    post_until_settled(
                        client, three_servers[i % 3], k, body_for(merchant, f"o-{i}")
                    )
                )
                for i, k in enumerate(keys)
            ]
            held = await asyncio.gather(*(lock_held(k) for k in keys))
            assert all(held), "every first request holds its lock before the flush"
            flushed = await store.delete_prefix()
            dups = [
                asyncio.create_task(
                    post_until_settled(
                        client, three_servers[(i + j) % 3], k, body_for(merchant, f"o-{i}")
                    )
                )
                for i, k in enumerate(keys)
                for j in range(1, 4)
            ]
            done = await asyncio.gather(*firsts, *dups)
            flushed_after = await store.delete_prefix()
            retries = await asyncio.gather(
                *(
                    post_until_settled(client, three_servers[0], k, body_for(merchant, f"o-{i}"))
                    for i, k in enumerate(keys)
                )
            )
            await store.close()
            return [d[0] for d in done] + [r[0] for r in retries], flushed, flushed_after

    answers, flushed, flushed_after = asyncio.run(scenario())
    assert flushed >= len(keys) and flushed_after >= 1
    charges = asyncio.run(mock_charges(live.config, merchant))
    rows = asyncio.run(rows_for(live.config, merchant))
    by_key: dict[str, list[dict[str, object]]] = {}
    for c in charges:
        by_key.setdefault(c["metadata"]["idempotency_key"], []).append(c)
    assert sorted(by_key) == sorted(keys)
    assert all(len(v) == 1 for v in by_key.values()), "no key was charged twice"
    assert len(rows) == len(keys) and all(r.state is PaymentState.COMPLETED for r in rows)
    for a in answers:
        assert a.status in (201, 409), a  # type: ignore[attr-defined]
    settled = [a for a in answers if a.status == 201]  # type: ignore[attr-defined]
    charge_of = {r.idempotency_key: r.charge_id for r in rows}
    for a in settled:
        order = a.body["payment"]["order"]  # type: ignore[attr-defined]
        key = keys[int(order.split("-")[1])]
        assert a.body["payment"]["charge"] == charge_of[key]  # type: ignore[attr-defined]
