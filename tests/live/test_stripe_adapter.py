"""The Stripe adapter's incremental charge index (lookups by payment id for the reconciler)
against stripe-stateful-mock: complete after each refresh, and a refresh lists only what is
new (plus a small margin), not every charge again."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from core.effects import ProviderCharge
from live.stripe_provider import StripeProvider
from loadtests.faults import socket_ports_of
from tests.live.conftest import LiveRun

pytestmark = [
    pytest.mark.live,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]


def test_payment_lookup_index_is_complete_and_incremental(live: LiveRun) -> None:
    ns = uuid.uuid4().hex[:10]
    base, key = live.config.stripe_api_base, live.config.stripe_api_key

    def charge(i: int, source: str = "tok_visa") -> ProviderCharge:
        return ProviderCharge(
            f"{ns}-{i}", 1999, "usd", source, (("payment_id", f"{ns}-p{i}"), ("ns", ns))
        )

    async def scenario() -> None:
        maker = StripeProvider(base, key)
        finder = StripeProvider(base, key)
        for i in range(130):
            await maker.charge(charge(i, "tok_chargeDeclined" if i % 10 == 0 else "tok_visa"))
        (first,) = await finder.charges_for_payment(f"{ns}-p0")
        assert not first.succeeded
        (found,) = await finder.charges_for_payment(f"{ns}-p129")
        assert found.succeeded
        assert await finder.charges_for_payment(f"{ns}-nope") == ()

        calls = 0
        listing = finder.client.v1.charges.list_async

        async def counted(*args: object, **kwargs: object) -> object:
            nonlocal calls
            calls += 1
            return await listing(*args, **kwargs)  # type: ignore[arg-type]

        finder.client.v1.charges.list_async = counted  # type: ignore[method-assign]
        assert await finder.refresh_index() == 0
        for i in range(130, 160):
            await maker.charge(charge(i))
        assert await finder.refresh_index() == 30
        assert calls <= 6, f"{calls} list pages for 30 new charges"
        for i in (130, 145, 159, 1, 64):
            (result,) = await finder.charges_for_payment(f"{ns}-p{i}")
            assert result.amount == 1999, i

    asyncio.run(scenario())


def test_a_burst_of_charges_keeps_its_connections_open(live: LiveRun) -> None:
    """More concurrent charges than httpx keeps alive by default (20): every connection the
    burst opened stays open for the next burst, instead of a handshake per extra charge."""
    ns = uuid.uuid4().hex[:10]
    base, key = live.config.stripe_api_base, live.config.stripe_api_key
    port = int(base.rsplit(":", 1)[1].split("/")[0])
    burst = 48

    async def scenario() -> tuple[set[int], set[int]]:
        provider = StripeProvider(base, key)

        async def charge(i: int) -> None:
            result = await provider.charge(
                ProviderCharge(f"{ns}-{i}", 1999, "usd", "tok_visa", (("ns", ns),))
            )
            assert result.succeeded

        await asyncio.gather(*(charge(i) for i in range(burst)))
        first = socket_ports_of(os.getpid(), port)
        await asyncio.gather(*(charge(i) for i in range(burst, 2 * burst)))
        second = socket_ports_of(os.getpid(), port)
        await provider.close()
        return first, second

    first, second = asyncio.run(scenario())
    assert len(first) > 20, f"{len(first)} connections kept after {burst} concurrent charges"
    assert first <= second, f"{len(first - second)} connections of the first burst were closed"
