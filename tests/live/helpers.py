"""Small clients the live tests share: POST with retries on 409, charges at the mock, rows."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from core.domain import Payment
from core.variants import variant_named
from live.config import LiveConfig
from live.postgres_store import PostgresStore
from live.stripe_provider import StripeProvider

MAX_409_RETRIES = 40


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    replayed: bool
    retry_after: str | None
    server: str


def body_for(
    merchant: str, order: str, amount: int = 1999, source: str = "tok_visa"
) -> dict[str, Any]:
    return {
        "merchant": merchant,
        "order": order,
        "amount": amount,
        "currency": "usd",
        "source": source,
    }


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


async def post(client: httpx.AsyncClient, server: str, key: str | None, body: Any) -> Answer:
    headers = {} if key is None else {"Idempotency-Key": key}
    r = await client.post(f"{server}/payments", json=body, headers=headers)
    return Answer(
        r.status_code,
        r.json(),
        r.headers.get("idempotent-replayed") == "true",
        r.headers.get("retry-after"),
        server,
    )


async def post_until_settled(
    client: httpx.AsyncClient, server: str, key: str, body: Any
) -> tuple[Answer, list[Answer]]:
    """POST, and while the answer is 409 in flight wait Retry-After and retry (bounded)."""
    seen: list[Answer] = []
    for _ in range(MAX_409_RETRIES):
        answer = await post(client, server, key, body)
        seen.append(answer)
        if answer.status != 409 or answer.body.get("code") != "request_in_flight":
            return answer, seen
        await asyncio.sleep(float(answer.retry_after or 1) / 4)
    return seen[-1], seen


async def mock_charges(config: LiveConfig, merchant: str) -> list[dict[str, Any]]:
    """Charges at the provider whose metadata names ``merchant`` (tests use unique merchants)."""
    provider = StripeProvider(config.stripe_api_base, config.stripe_api_key)
    return [
        c
        for c in await provider.list_raw()
        if (c.get("metadata") or {}).get("merchant") == merchant
    ]


async def rows_for(config: LiveConfig, merchant: str) -> list[Payment]:
    store = PostgresStore(
        config.database_url, config.db_schema, variant_named(config.variant), max_size=2
    )
    await store.open()
    try:
        return [p for p in await store.all_payments() if p.merchant == merchant]
    finally:
        await store.close()
