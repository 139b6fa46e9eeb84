"""Component bounds measured in the same run as the endpoints: Redis operations/s, Postgres
transactions/s doing a payment's writes, the mock's charges/s over raw HTTP, and Stripe SDK
calls/s from one process. Each is a closed loop of concurrent workers for a few seconds."""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping

import httpx


async def rate_of(seconds: float, concurrency: int, op: Callable[[], Awaitable[int]]) -> float:
    """Operations per second that ``concurrency`` workers calling ``op`` (which returns how
    many operations it did) complete in ``seconds``."""
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


async def components(env: Mapping[str, str], args: argparse.Namespace) -> dict[str, float]:
    """Every bound, keyed as in ``bench.json``'s ``components``."""
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

    out["redis_ops_per_s"] = await rate_of(secs, conc, redis_op)
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

    out["postgres_tx_per_s"] = await rate_of(secs, 10, pg_op)
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

        out["mock_charges_per_s"] = await rate_of(secs, conc, raw_charge)

    provider = StripeProvider(cfg.stripe_api_base, cfg.stripe_api_key, timeout_s=10)

    async def sdk_charge() -> int:
        effect = ProviderCharge(
            f"bench-sdk-{uuid.uuid4().hex}", 1999, "usd", "tok_visa", (("bench", "sdk"),)
        )
        result = await provider.charge(effect)
        return 1 if result.succeeded else 0

    out["stripe_sdk_calls_per_s_per_process"] = await rate_of(secs, conc, sdk_charge)
    return out
