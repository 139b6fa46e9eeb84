"""Hypothesis against a live server, below the OpenAPI: arbitrary methods, paths, headers and
body bytes, and valid payments with one corruption each. Never a 5xx, never a charge at the
mock, and the server still answers (a valid payment is 201 afterwards)."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from live.stripe_provider import StripeProvider
from tests.live.conftest import LiveRun
from tests.live.helpers import KEYRING, body_for, unique

pytestmark = [
    pytest.mark.live,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]

EXAMPLES = 200
MERCHANT = unique("m-fuzz-")

header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40)
keys = st.one_of(
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20),
    header_text,
)
content_types = st.sampled_from(
    ["application/json"] * 4 + ["text/plain", "application/json; charset=utf-16", "", "*/*"]
)
corruptions: list[tuple[str, Any]] = [
    ("order", "o-\ud800"),
    ("merchant", "m-\udfff"),
    ("source", "tok\x00visa"),
    ("metadata", {"note": "a\ud800"}),
    ("metadata", None),
    ("capture", False),
    ("amount", "1999"),
    ("amount", True),
    ("amount", 0),
    ("currency", "USD"),
    ("order", "   "),
    ("merchant", "x" * 300),
]


@st.composite
def corrupted_payment(draw: st.DrawFn) -> bytes:
    body: dict[str, Any] = body_for(MERCHANT, unique("o-"))
    field, value = draw(st.sampled_from(corruptions))
    body[field] = value
    text = json.dumps(body, ensure_ascii=True)  # lone surrogates as \\uXXXX escapes
    if draw(st.booleans()):
        depth = draw(st.integers(10, 5000))
        text = text[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"
    return text.encode()


bodies = st.one_of(st.binary(max_size=300), corrupted_payment())
paths = st.one_of(
    st.just("/payments"),
    st.just("/payments"),
    st.just("/payments"),
    st.builds(lambda s: "/payments/" + quote(s, safe=""), st.text(max_size=30)),
    st.builds(lambda b: "/" + quote(b, safe="/"), st.binary(max_size=30)),
)
methods = st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "DELETE", "PATCH"])
headers = st.lists(
    st.tuples(
        st.sampled_from(["Idempotency-Key", "Content-Type", "Accept", "X-Anything"]),
        header_text,
    ),
    max_size=4,
)


def charge_count(run: LiveRun) -> int:
    async def go() -> int:
        provider = StripeProvider(run.config.stripe_api_base, run.config.stripe_api_key)
        return len(await provider.list_raw())

    return asyncio.run(go())


def test_arbitrary_requests_get_no_5xx_and_charge_nothing(
    live: LiveRun, three_servers: list[str]
) -> None:
    server = three_servers[1]
    before = charge_count(live)
    seen: dict[int, int] = {}
    client = httpx.Client(base_url=server, timeout=30)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        method=methods,
        path=paths,
        key=keys,
        content_type=content_types,
        extra=headers,
        body=bodies,
    )
    def run(
        method: str,
        path: str,
        key: str,
        content_type: str,
        extra: list[tuple[str, str]],
        body: bytes,
    ) -> None:
        sent = [
            ("Authorization", KEYRING.auth(MERCHANT)["Authorization"]),
            ("Idempotency-Key", key),
            ("Content-Type", content_type),
            *extra,
        ]
        encoded = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in sent]
        try:
            response = client.request(method, path, content=body, headers=encoded)
        except httpx.LocalProtocolError:
            return  # h11 refuses to send it (e.g. a header value with a newline)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code < 500, (method, path, sent, body[:200], response.text)
        assert response.status_code not in (201, 202, 402), (method, path, sent, body[:200])
        if response.status_code >= 400:
            assert {"code", "message"} <= set(response.json()), response.text

    try:
        run()
        assert client.get("/healthz").status_code == 200
        assert charge_count(live) == before, "a hostile request was charged"
        ok = client.post(
            "/payments",
            json=body_for(MERCHANT, unique("o-")),
            headers={"Idempotency-Key": unique("k-fuzz-ok-"), **KEYRING.auth(MERCHANT)},
        )
        assert ok.status_code == 201, ok.text
    finally:
        client.close()
    print(f"raw fuzz: {sum(seen.values())} requests; statuses {sorted(seen.items())}")
