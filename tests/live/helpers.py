"""Small clients the live tests share: POST with retries on 409, charges at the mock, rows,
and every test merchant's API key (``KEYRING``: issued on first use in the session's schema)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from core.domain import Payment
from core.variants import variant_named
from live.config import LiveConfig
from live.merchant_keys import IssuedKey, add_key
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


class Keyring:
    """One API key per test merchant, issued on first use in the session's schema (which the
    session drops at its end, keys included)."""

    def __init__(self) -> None:
        self.config: LiveConfig | None = None
        self.issued: dict[str, IssuedKey] = {}

    def configure(self, config: LiveConfig) -> None:
        self.config = config
        self.issued.clear()

    def token(self, merchant: str) -> str:
        found = self.issued.get(merchant)
        if found is None:
            if self.config is None:
                raise RuntimeError("the keyring has no schema: use the live_base fixture")
            found = add_key(self.config.database_url, self.config.db_schema, merchant)
            self.issued[merchant] = found
        return found.token

    def auth(self, merchant: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(merchant)}"}


KEYRING = Keyring()


def auth_for(body: Any) -> dict[str, str]:
    """The Authorization header for the body's merchant (none for a body without one)."""
    merchant = body.get("merchant") if isinstance(body, dict) else None
    return KEYRING.auth(merchant) if isinstance(merchant, str) and merchant else {}


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


async def post(
    client: httpx.AsyncClient,
    server: str,
    key: str | None,
    body: Any,
    auth: dict[str, str] | None = None,
) -> Answer:
    """POST a payment, authenticated as the body's merchant unless ``auth`` says otherwise."""
    headers = dict(auth_for(body) if auth is None else auth)
    if key is not None:
        headers["Idempotency-Key"] = key
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
