"""Issue 18: the probe's exact requests against a live server. Every client input is a 4xx
with a JSON ``{code, message}`` and charges nothing; after an unexpected error the key is not
left locked; (merchant, key) pairs that join to the same ``merchant:key`` stay apart."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import redis

from core.domain import PaymentRequest
from core.flows.payment import RedisKeys
from live.faultpoints import KNOWN_POINTS, Action, FaultPoints
from live.service import create_app
from live.stripe_provider import StripeProvider
from tests.live.conftest import LiveRun
from tests.live.helpers import KEYRING, body_for, mock_charges, unique

pytestmark = [
    pytest.mark.live,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]

JSON = {"Content-Type": "application/json"}


def merchant_in(content: bytes) -> str | None:
    """The body's merchant when it is a clean string (the key to authenticate with)."""
    try:
        merchant = json.loads(content).get("merchant")
        return merchant if isinstance(merchant, str) and merchant.encode() else None
    except (ValueError, AttributeError, UnicodeError, RecursionError):
        return None


def raw_post(
    server: str,
    key: str | None,
    content: bytes,
    headers: dict[str, str] | None = None,
    as_merchant: str | None = None,
) -> httpx.Response:
    """POST raw bytes, authenticated as ``as_merchant`` (default: the body's merchant)."""
    merchant = as_merchant or merchant_in(content) or unique("m-raw-")
    sent = {**JSON, **KEYRING.auth(merchant), **(headers or {})}
    if key is not None:
        sent["Idempotency-Key"] = key
    return httpx.post(f"{server}/payments", content=content, headers=sent, timeout=30)


def body_text(
    merchant: str, order: str, extra: str = "", fields: dict[str, str] | None = None
) -> bytes:
    """A body written by hand, so a JSON escape like ``\\ud800`` reaches the server as is."""
    values = {"merchant": f'"{merchant}"', "order": f'"{order}"', "source": '"tok_visa"'}
    values.update(fields or {})
    members = ", ".join(f'"{k}": {v}' for k, v in values.items())
    return f'{{{members}, "amount": 1999, "currency": "usd"{extra}}}'.encode()


def assert_refused(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, (response.status_code, response.text[:300])
    body = response.json()
    assert body["code"] and body["message"], body
    if code is not None:
        assert body["code"] == code, body


@pytest.mark.parametrize("field", ["order", "merchant", "source"])
def test_a_lone_surrogate_in_a_text_field_is_400_and_the_key_is_not_left_locked(
    live: LiveRun, three_servers: list[str], field: str
) -> None:
    server, merchant, key = three_servers[0], unique("m-sur-"), unique("k-sur-")
    bad = {field: '"x-\\ud800"'}  # the JSON escape of a lone surrogate, as the probe sent it
    response = raw_post(server, key, body_text(merchant, "o-1", fields=bad), as_merchant=merchant)
    assert_refused(response, 400, "invalid_request")
    assert "surrogate" in response.json()["message"]
    good_merchant = unique("m-sur-ok-")
    retry = raw_post(server, key, body_text(good_merchant, "o-1"))
    assert retry.status_code == 201, retry.text  # not 409 for the lock's TTL
    assert len(asyncio.run(mock_charges(live.config, good_merchant))) == 1


def test_a_body_nested_20000_levels_deep_is_400(three_servers: list[str]) -> None:
    deep = b"[" * 20_000 + b"]" * 20_000  # 39 KB, under the size limit
    response = raw_post(three_servers[0], unique("k-deep-"), deep)
    assert_refused(response, 400, "invalid_request")
    nested = b'{"merchant": ' + b'{"a": ' * 20_000 + b"1" + b"}" * 20_000 + b"}"
    assert_refused(raw_post(three_servers[0], unique("k-deep-"), nested), 413)


@pytest.mark.parametrize("path", ["%00", "a%00b", "%ED%A0%80", "x" * 300, "%1F"])
def test_a_payment_id_that_cannot_exist_is_404(three_servers: list[str], path: str) -> None:
    auth = KEYRING.auth(unique("m-get-"))
    response = httpx.get(f"{three_servers[0]}/payments/{path}", headers=auth, timeout=30)
    assert_refused(response, 404)


def test_a_text_plain_body_is_415_and_charges_nothing(
    live: LiveRun, three_servers: list[str]
) -> None:
    merchant = unique("m-plain-")
    body = body_text(merchant, "o-1")
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin-1",
    ):
        response = raw_post(
            three_servers[0], unique("k-plain-"), body, {"Content-Type": content_type}
        )
        assert_refused(response, 415, "unsupported_media_type")
    no_type = httpx.post(
        f"{three_servers[0]}/payments",
        content=body,
        headers={"Idempotency-Key": unique("k-plain-"), **KEYRING.auth(merchant)},
        timeout=30,
    )
    assert_refused(no_type, 415)
    assert asyncio.run(mock_charges(live.config, merchant)) == []


def test_an_unknown_field_is_400_parameter_unknown_and_charges_nothing(
    live: LiveRun, three_servers: list[str]
) -> None:
    merchant = unique("m-unknown-")
    for extra in (', "capture": false', ', "\\ud800": 1', ', "amount": 5'):
        response = raw_post(three_servers[0], unique("k-"), body_text(merchant, "o-1", extra))
        assert_refused(response, 400)
    response = raw_post(three_servers[0], unique("k-"), body_text(merchant, "o-1", ', "x": 1'))
    assert_refused(response, 400, "parameter_unknown")
    assert asyncio.run(mock_charges(live.config, merchant)) == []


def test_two_idempotency_key_header_lines_are_400(live: LiveRun, three_servers: list[str]) -> None:
    merchant = unique("m-twokeys-")
    response = httpx.post(
        f"{three_servers[0]}/payments",
        content=body_text(merchant, "o-1"),
        headers=[
            ("Content-Type", "application/json"),
            ("Authorization", KEYRING.auth(merchant)["Authorization"]),
            ("Idempotency-Key", unique("k-a-")),
            ("Idempotency-Key", unique("k-b-")),
        ],
        timeout=30,
    )
    assert_refused(response, 400, "idempotency_key_invalid")
    assert asyncio.run(mock_charges(live.config, merchant)) == []


def test_a_1_mb_body_is_413(three_servers: list[str]) -> None:
    padding = ', "metadata": {"a": "' + "x" * (1 << 20) + '"}'
    response = raw_post(three_servers[0], unique("k-big-"), body_text("m", "o", padding))
    assert_refused(response, 413, "body_too_large")


def test_a_lone_surrogate_in_a_metadata_value_is_400_and_charges_nothing(
    live: LiveRun, three_servers: list[str]
) -> None:
    merchant = unique("m-meta-")
    for extra in (', "metadata": {"note": "a\\udc00"}', ', "metadata": {"\\ud800": "a"}'):
        response = raw_post(three_servers[0], unique("k-"), body_text(merchant, "o-1", extra))
        assert_refused(response, 400, "invalid_request")
    assert asyncio.run(mock_charges(live.config, merchant)) == []


def test_merchant_and_key_joined_by_the_separator_stay_apart(
    live: LiveRun, three_servers: list[str]
) -> None:
    """``M`` + ``k:x`` and ``M:k`` + ``x``: two payments, two charges, even with the cache gone."""
    base = unique("m-sep-")
    pairs = [(base, "k:x"), (f"{base}:k", "x")]
    first = [
        raw_post(three_servers[i], key, body_text(m, "o-1")) for i, (m, key) in enumerate(pairs)
    ]
    assert [r.status_code for r in first] == [201, 201], [r.text for r in first]
    assert first[0].json()["payment"]["id"] != first[1].json()["payment"]["id"]
    client = redis.Redis.from_url(live.config.redis_url)
    variant = live.config.resolve_variant()
    try:
        for m, key in pairs:
            keys = RedisKeys.for_request(
                variant, PaymentRequest(m, "o-1", 1999, "usd", "tok_visa", key)
            )
            client.delete(live.config.redis_prefix + keys.cache)
    finally:
        client.close()
    again = [raw_post(three_servers[2], key, body_text(m, "o-1")) for m, key in pairs]
    assert [r.status_code for r in again] == [201, 201], [r.text for r in again]
    assert [r.json()["payment"]["id"] for r in again] == [r.json()["payment"]["id"] for r in first]
    for m, _ in pairs:
        charges = asyncio.run(mock_charges(live.config, m))
        assert len(charges) == 1, (m, charges)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/payments"),
        ("PUT", "/payments"),
        ("POST", "/healthz"),
        ("DELETE", "/readyz"),
        ("POST", "/stats"),
        ("POST", "/payments/pay_x"),
    ],
)
def test_405_names_the_allowed_methods(three_servers: list[str], method: str, path: str) -> None:
    response = httpx.request(method, f"{three_servers[0]}{path}", timeout=30)
    assert response.status_code == 405
    assert response.headers.get("allow"), response.headers


# --- an unexpected exception at every fault point (in-process app, real backends) ----------

HARDENED_POINTS = sorted(KNOWN_POINTS)


def test_an_injected_error_at_every_fault_point_leaves_no_lock_and_a_retry_succeeds(
    live: LiveRun,
) -> None:
    faults = FaultPoints({})
    app = create_app(live.config, faults=faults)
    variant = live.config.resolve_variant()
    sync_redis = redis.Redis.from_url(live.config.redis_url)
    results: dict[str, Any] = {}

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://app", timeout=30) as c,
        ):
            for point in HARDENED_POINTS:
                merchant, key = unique(f"m-raise-{point}-"), unique("k-")
                body = body_for(merchant, "o-1")
                auth = KEYRING.auth(merchant)
                sent = {"Idempotency-Key": key, **auth}
                if point == "before_release":  # hardened releases alone only without an answer
                    paid = await c.post("/payments", json=body, headers=sent)
                    assert paid.status_code == 201
                    key = unique("k-other-")  # same order, another key: 409 and a plain release
                    sent = {"Idempotency-Key": key, **auth}
                faults.actions = {point: Action("raise")}
                hit = await c.post("/payments", json=body, headers=sent)
                faults.actions = {}
                request = PaymentRequest(merchant, "o-1", 1999, "usd", "tok_visa", key)
                lock = live.config.redis_prefix + RedisKeys.for_request(variant, request).lock
                locked = bool(sync_redis.exists(lock))
                retry = await c.post("/payments", json=body, headers=sent)
                results[point] = (
                    hit.status_code,
                    hit.json(),
                    locked,
                    retry.status_code,
                    retry.json(),
                )

    try:
        asyncio.run(scenario())
    finally:
        sync_redis.close()
    expected_retry = {"before_release": 409}
    for point, (status, body, locked, retry_status, retry_body) in results.items():
        assert status == 500 and body["code"] == "internal_error", (point, body)
        assert "incident" in body["message"], (point, body)
        assert not locked, f"{point}: the key's lock outlived the error"
        want = expected_retry.get(point, 201)
        assert retry_status == want, (point, retry_status, retry_body)
        if want == 409:
            assert retry_body["code"] == "order_already_has_payment", (point, retry_body)
    everything = asyncio.run(all_charges(live))
    for point in HARDENED_POINTS:
        mine = [
            c
            for c in everything
            if str((c.get("metadata") or {}).get("merchant", "")).startswith(f"m-raise-{point}-")
        ]
        assert len(mine) == 1, (point, len(mine))


async def all_charges(run: LiveRun) -> list[dict[str, Any]]:
    provider = StripeProvider(run.config.stripe_api_base, run.config.stripe_api_key)
    return list(await provider.list_raw())
