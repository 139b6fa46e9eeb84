"""Merchants' API keys: issued once, stored as salted hashes, revocable (migration 0005).

A key looks like Stripe's secret keys: ``phk_<key_id>_<secret>``.

- ``key_id``: 16 hex characters (64 random bits), public: it names the key in
  ``payharness merchants list / revoke`` and is the row's primary key, so a request's key is
  found by an index lookup on it, never by searching hashes;
- ``secret``: 32 bytes from ``secrets.token_bytes`` (256 bits), base64url. It is shown once,
  by ``payharness merchants add``, and never stored.

Storage is ``SHA-256(salt || secret)`` with a per-key 16-byte random salt. A slow password
hash (bcrypt, scrypt, Argon2) exists to make guessing a *low-entropy* secret expensive; a
256-bit random secret cannot be guessed at any hash speed (2^255 tries on average), so a
fast hash loses nothing and keeps authentication at microseconds per request. The salt
makes equal secrets hash apart and rules out any table precomputed for this format. A leaked
``merchant_keys`` table therefore gives no usable key.

Comparison is constant time: the presented secret is hashed with the row's salt and compared
with ``hmac.compare_digest``; an unknown or malformed key is hashed and compared against a
dummy, so the answer's timing does not depend on how far a guess matched. Which key ids
exist is not secret (they are printed in listings), so the index lookup by id may take its
own time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

PREFIX = "phk_"
KEY_ID_HEX = 16
SECRET_BYTES = 32
SALT_BYTES = 16
_TOKEN_RE = re.compile(r"^phk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_DUMMY_SALT = bytes(SALT_BYTES)
_DUMMY_HASH = hashlib.sha256(b"payharness: no such key").digest()

LOOKUP_SQL = (
    "SELECT merchant, salt, secret_hash FROM merchant_keys WHERE key_id = %s AND revoked_at IS NULL"
)

Reader = Callable[[str, Sequence[Any]], Awaitable[list[tuple[Any, ...]]]]
"""One autocommit read: ``PostgresStore.query`` in the service."""


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key as it is handed out: ``token`` exists only here and in the caller's hands."""

    key_id: str
    merchant: str
    token: str


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A key as the database knows it (no secret, no hash)."""

    key_id: str
    merchant: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_secret(salt: bytes, secret: str) -> bytes:
    return hashlib.sha256(salt + secret.encode("ascii")).digest()


def new_key(merchant: str) -> tuple[IssuedKey, bytes, bytes]:
    """A fresh key for ``merchant``, with the salt and hash to store."""
    key_id = secrets.token_hex(KEY_ID_HEX // 2)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES)).rstrip(b"=").decode()
    salt = secrets.token_bytes(SALT_BYTES)
    issued = IssuedKey(key_id, merchant, f"{PREFIX}{key_id}_{secret}")
    return issued, salt, hash_secret(salt, secret)


def parse_token(token: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of a well-formed key, else None."""
    found = _TOKEN_RE.match(token)
    return (found.group(1), found.group(2)) if found else None


def bearer_token(values: list[str]) -> str | None:
    """The token of the one ``Authorization: Bearer <token>`` header (RFC 6750 section 2.1;
    the scheme is case-insensitive), else None."""
    if len(values) != 1:
        return None
    scheme, _, token = values[0].strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    return token or None


def verify(token: str | None, row: tuple[Any, ...] | None) -> str | None:
    """The merchant ``token`` authenticates given its looked-up row ``(merchant, salt, hash)``
    (None when there is none), else None. Always one hash and one constant-time compare."""
    parsed = parse_token(token) if token is not None else None
    secret = parsed[1] if parsed is not None else ""
    salt, stored = (bytes(row[1]), bytes(row[2])) if row is not None else (_DUMMY_SALT, _DUMMY_HASH)
    matches = hmac.compare_digest(hash_secret(salt, secret), stored)
    return str(row[0]) if (matches and row is not None and parsed is not None) else None


async def authenticate(read: Reader, token: str | None) -> str | None:
    """The merchant of an active key, else None. A backend fault propagates (503, not 401)."""
    parsed = parse_token(token) if token is not None else None
    row: tuple[Any, ...] | None = None
    if parsed is not None:
        rows = await read(LOOKUP_SQL, (parsed[0],))
        row = rows[0] if rows else None
    return verify(token, row)


# --- administration (the CLI, the load harness, tests): one short sync connection ----------


def _connect(database_url: str, schema: str) -> psycopg.Connection[Any]:
    return psycopg.connect(
        database_url, autocommit=True, connect_timeout=5, options=f"-c search_path={schema}"
    )


def add_key(database_url: str, schema: str, merchant: str) -> IssuedKey:
    """Issue a key for ``merchant``; only its salt and hash are stored."""
    if not merchant or len(merchant) > 255 or not merchant.strip() or "\x00" in merchant:
        raise ValueError("a merchant id is 1-255 characters, not blank, without NUL")
    issued, salt, digest = new_key(merchant)
    with _connect(database_url, schema) as conn:
        conn.execute(
            "INSERT INTO merchant_keys (key_id, merchant, salt, secret_hash) "
            "VALUES (%s, %s, %s, %s)",
            (issued.key_id, merchant, salt, digest),
        )
    return issued


def list_keys(database_url: str, schema: str, merchant_prefix: str | None = None) -> list[KeyInfo]:
    query = "SELECT key_id, merchant, created_at, revoked_at FROM merchant_keys"
    params: tuple[Any, ...] = ()
    if merchant_prefix is not None:
        query += " WHERE starts_with(merchant, %s)"
        params = (merchant_prefix,)
    with _connect(database_url, schema) as conn:
        rows = conn.execute(query + " ORDER BY created_at, key_id", params).fetchall()
    return [KeyInfo(r[0], r[1], r[2], r[3]) for r in rows]


def revoke_key(database_url: str, schema: str, key_id: str) -> bool:
    """Revoke an active key; False when there is no such active key."""
    with _connect(database_url, schema) as conn:
        cur = conn.execute(
            "UPDATE merchant_keys SET revoked_at = now() WHERE key_id = %s AND revoked_at IS NULL",
            (key_id,),
        )
        return cur.rowcount == 1


def remove_keys(database_url: str, schema: str, key_ids: Sequence[str]) -> int:
    """Delete these keys' rows (the load harness removes the keys it issued); returns how many."""
    if not key_ids:
        return 0
    with _connect(database_url, schema) as conn:
        cur = conn.execute("DELETE FROM merchant_keys WHERE key_id = ANY(%s)", (list(key_ids),))
        return cur.rowcount
