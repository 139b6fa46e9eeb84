"""Issue 18, item 4: merchants authenticated by API keys.

Against live servers (the session's schema, mock and Redis prefix): 401 with
``WWW-Authenticate: Bearer`` for a missing, unknown, malformed or revoked key; 403 for a body
naming another merchant than the key's; 404 for another merchant's payment; a valid key pays
end to end with the merchant taken from the key; ``payharness merchants add`` prints the key
once and stores only a salted hash."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from typing import Any

import httpx
import psycopg
import pytest

from live.merchant_keys import (
    bearer_token,
    hash_secret,
    new_key,
    parse_token,
    revoke_key,
    verify,
)
from tests.live.conftest import LiveRun
from tests.live.helpers import KEYRING, body_for, mock_charges, post, rows_for, unique
from tests.live.stack import REPO

pytestmark = [
    pytest.mark.live,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]


# --- the key format and the comparison, without a server -------------------------------------


def test_a_key_is_its_id_and_a_256_bit_secret_and_verifies_only_itself() -> None:
    issued, salt, digest = new_key("m1")
    parsed = parse_token(issued.token)
    assert parsed is not None and parsed[0] == issued.key_id
    assert len(parsed[1]) == 43  # 32 bytes, base64url without padding
    row = ("m1", salt, digest)
    assert verify(issued.token, row) == "m1"
    assert verify(issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B"), row) is None
    assert verify(issued.token, None) is None
    assert verify(None, row) is None and verify("phk_nope", row) is None
    other, _, _ = new_key("m1")
    assert other.key_id != issued.key_id and other.token != issued.token
    assert hash_secret(salt, parsed[1]) == digest != hashlib.sha256(parsed[1].encode()).digest()


@pytest.mark.parametrize(
    ("headers", "token"),
    [
        ([], None),
        (["Bearer abc"], "abc"),
        (["bearer  abc "], "abc"),
        (["Basic abc"], None),
        (["Bearer "], None),
        (["Bearer a", "Bearer b"], None),
    ],
)
def test_the_bearer_token_is_read_from_exactly_one_header(
    headers: list[str], token: str | None
) -> None:
    assert bearer_token(headers) == token


# --- live ------------------------------------------------------------------------------------


def _pay(
    server: str, body: dict[str, Any], auth: dict[str, str], key: str | None = None
) -> httpx.Response:
    headers = {"Idempotency-Key": key or unique("k-auth-"), **auth}
    return httpx.post(f"{server}/payments", json=body, headers=headers, timeout=30)


def _assert_401(response: httpx.Response, *, presented: bool) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "unauthorized"
    challenge = response.headers.get("www-authenticate", "")
    assert challenge.startswith("Bearer"), response.headers
    assert ('error="invalid_token"' in challenge) is presented, challenge


def test_a_missing_key_is_401_with_a_bearer_challenge_and_charges_nothing(
    live: LiveRun, three_servers: list[str]
) -> None:
    merchant = unique("m-nokey-")
    _assert_401(_pay(three_servers[0], body_for(merchant, "o-1"), {}), presented=False)
    _assert_401(
        _pay(three_servers[0], body_for(merchant, "o-1"), {"Authorization": "Basic eDp5"}),
        presented=True,
    )
    get = httpx.get(f"{three_servers[0]}/payments/pay_x", timeout=30)
    _assert_401(get, presented=False)
    assert asyncio.run(mock_charges(live.config, merchant)) == []


def test_an_unknown_or_malformed_key_is_401(live: LiveRun, three_servers: list[str]) -> None:
    merchant = unique("m-unknown-")
    KEYRING.token(merchant)
    known_id = KEYRING.issued[merchant].key_id
    never_issued, _, _ = new_key(merchant)  # well-formed, not in the database
    wrong_secret = f"phk_{known_id}_{never_issued.token.rsplit('_', 1)[1]}"
    for token in (never_issued.token, wrong_secret, "sk_test_x", "phk_" + "0" * 16 + "_short"):
        auth = {"Authorization": f"Bearer {token}"}
        _assert_401(_pay(three_servers[1], body_for(merchant, "o-1"), auth), presented=True)
        get = httpx.get(f"{three_servers[1]}/payments/pay_x", headers=auth, timeout=30)
        _assert_401(get, presented=True)
    assert asyncio.run(mock_charges(live.config, merchant)) == []


def test_a_revoked_key_is_401_at_once(live: LiveRun, three_servers: list[str]) -> None:
    merchant = unique("m-revoked-")
    auth = KEYRING.auth(merchant)
    made = _pay(three_servers[0], body_for(merchant, "o-1"), auth)
    assert made.status_code == 201, made.text
    key_id = KEYRING.issued[merchant].key_id
    assert revoke_key(live.config.database_url, live.config.db_schema, key_id)
    _assert_401(_pay(three_servers[1], body_for(merchant, "o-2"), auth), presented=True)
    pid = made.json()["payment"]["id"]
    get = httpx.get(f"{three_servers[2]}/payments/{pid}", headers=auth, timeout=30)
    _assert_401(get, presented=True)
    assert len(asyncio.run(mock_charges(live.config, merchant))) == 1


def test_a_body_naming_another_merchant_is_403_and_charges_nothing(
    live: LiveRun, three_servers: list[str]
) -> None:
    mine, theirs = unique("m-mine-"), unique("m-theirs-")
    refused = _pay(three_servers[0], body_for(theirs, "o-1"), KEYRING.auth(mine))
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "merchant_mismatch"
    assert asyncio.run(mock_charges(live.config, theirs)) == []
    assert asyncio.run(mock_charges(live.config, mine)) == []
    assert asyncio.run(rows_for(live.config, theirs)) == []


def test_another_merchants_payment_is_404_as_if_it_did_not_exist(
    live: LiveRun, three_servers: list[str]
) -> None:
    owner, other = unique("m-owner-"), unique("m-snoop-")
    made = _pay(three_servers[0], body_for(owner, "o-1"), KEYRING.auth(owner))
    assert made.status_code == 201, made.text
    pid = made.json()["payment"]["id"]
    for server in three_servers:
        seen = httpx.get(f"{server}/payments/{pid}", headers=KEYRING.auth(other), timeout=30)
        nothing = httpx.get(f"{server}/payments/pay_nope", headers=KEYRING.auth(other), timeout=30)
        assert seen.status_code == 404, seen.text
        assert seen.json() == nothing.json()  # nothing tells "exists" from "not yours"
        assert owner not in seen.text
    mine = httpx.get(f"{three_servers[1]}/payments/{pid}", headers=KEYRING.auth(owner), timeout=30)
    assert mine.status_code == 200 and mine.json()["merchant"] == owner


def test_a_valid_key_pays_end_to_end_for_its_merchant(
    live: LiveRun, three_servers: list[str]
) -> None:
    merchant, key = unique("m-valid-"), unique("k-valid-")
    body = body_for(merchant, "o-1")
    del body["merchant"]  # taken from the key

    async def scenario() -> list[Any]:
        async with httpx.AsyncClient(timeout=30) as client:
            auth = KEYRING.auth(merchant)
            first = await post(client, three_servers[0], key, body, auth)
            replay = await post(client, three_servers[1], key, body, auth)
            named = await post(client, three_servers[2], key, {**body, "merchant": merchant}, auth)
            return [first, replay, named]

    first, replay, named = asyncio.run(scenario())
    assert first.status == 201 and first.body["payment"]["merchant"] == merchant, first
    assert replay.status == 201 and replay.replayed
    assert named.status == 201 and named.replayed  # the same payload, merchant spelled out
    pid = first.body["payment"]["id"]
    auth = KEYRING.auth(merchant)
    got = httpx.get(f"{three_servers[2]}/payments/{pid}", headers=auth, timeout=30)
    assert got.status_code == 200 and got.json()["state"] == "COMPLETED"
    charges = asyncio.run(mock_charges(live.config, merchant))
    assert len(charges) == 1 and charges[0]["id"] == first.body["payment"]["charge"]
    assert [r.merchant for r in asyncio.run(rows_for(live.config, merchant))] == [merchant]


def _cli(live: LiveRun, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **live.config.to_env(), "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "payharness", "merchants", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_cli_prints_the_key_once_and_stores_only_a_salted_hash(
    live: LiveRun, three_servers: list[str]
) -> None:
    merchant = unique("m-cli-")
    added = _cli(live, "add", merchant)
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    parsed = parse_token(token)
    assert parsed is not None and added.stdout == token + "\n"
    key_id, secret = parsed
    assert key_id in added.stderr and secret not in added.stderr

    with psycopg.connect(live.config.database_url) as conn:
        rows = conn.execute(
            f"SELECT * FROM {live.config.db_schema}.merchant_keys WHERE key_id = %s", (key_id,)
        ).fetchall()
        columns = [
            d.name
            for d in conn.execute(
                f"SELECT * FROM {live.config.db_schema}.merchant_keys LIMIT 0"
            ).description
            or []
        ]
    assert len(rows) == 1
    row = dict(zip(columns, rows[0], strict=True))
    assert row["merchant"] == merchant and row["revoked_at"] is None
    assert bytes(row["secret_hash"]) == hash_secret(bytes(row["salt"]), secret)
    stored = repr(rows[0]).encode()
    assert secret.encode() not in stored and token.encode() not in stored
    assert hashlib.sha256(secret.encode()).digest() not in stored  # salted

    listed = _cli(live, "list", "--merchant-prefix", merchant)
    assert listed.returncode == 0 and key_id in listed.stdout and "active" in listed.stdout
    assert secret not in listed.stdout

    auth = {"Authorization": f"Bearer {token}"}
    paid = _pay(three_servers[0], body_for(merchant, "o-1"), auth)
    assert paid.status_code == 201, paid.text

    revoked = _cli(live, "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    assert _cli(live, "revoke", key_id).returncode == 1  # already revoked
    assert "revoked" in _cli(live, "list", "--merchant-prefix", merchant).stdout
    _assert_401(_pay(three_servers[0], body_for(merchant, "o-2"), auth), presented=True)
