"""The 50-way same-key race over three hardened API servers on the PayPal adapter, against
the stand-in: exactly one capture, counted at the stand-in, and one completed row."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from core.domain import PaymentState
from tests.live.conftest import LiveRun
from tests.live.helpers import Answer, body_for, post_until_settled, rows_for, unique

pytestmark = [pytest.mark.live]

CONCURRENCY = 50


def standin_captures(run: LiveRun, merchant: str) -> list[dict[str, object]]:
    """Captures at the stand-in whose metadata names ``merchant`` (unique per test)."""
    listed = httpx.get(f"{run.config.paypal_api_base}/_standin/captures", timeout=10).json()
    return [
        c for c in listed["captures"] if f'"merchant":"{merchant}"' in c.get("reference_id", "")
    ]


def test_fifty_concurrent_same_key_over_three_paypal_servers(
    paypal_live: LiveRun, paypal_three_servers: list[str]
) -> None:
    servers = paypal_three_servers
    merchant, key = unique("m-pp-conc-"), unique("k-")
    body = body_for(merchant, "order-1")

    async def scenario() -> list[tuple[Answer, list[Answer]]]:
        async with httpx.AsyncClient(timeout=30) as client:
            return await asyncio.gather(
                *(post_until_settled(client, servers[i % 3], key, body) for i in range(CONCURRENCY))
            )

    results = asyncio.run(scenario())
    finals = [final for final, _ in results]
    assert {f.status for f in finals} == {201}, [(f.status, f.body) for f in finals]
    assert all(f.body == finals[0].body for f in finals)
    fresh = [f for f in finals if not f.replayed]
    assert len(fresh) == 1, f"exactly one original 201, got {len(fresh)}"

    captures = standin_captures(paypal_live, merchant)
    rows = asyncio.run(rows_for(paypal_live.config, merchant))
    assert len(captures) == 1, captures
    assert captures[0]["status"] == "COMPLETED"
    assert len(rows) == 1 and rows[0].state is PaymentState.COMPLETED
    assert rows[0].charge_id == captures[0]["id"] == finals[0].body["payment"]["charge"]
