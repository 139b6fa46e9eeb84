"""The one derivation of a (merchant, idempotency key) scope: every composite of the two.

``scope_text`` is injective: the merchant's length comes first, so no choice of characters in
either part (``:`` included) makes two pairs meet. Everything stored or sent derives from
``scope_digest``, the SHA-256 of that text's UTF-8: fixed length, hexadecimal only, so it is
safe as a Redis Cluster hash tag (no braces), fits Stripe's 255-character idempotency keys
whatever the lengths of merchant and key, and is ASCII for any header.

Before this (payharness <= 0.1) the composite was ``f"{merchant}:{key}"``: merchant ``M``
with key ``k:x`` and merchant ``M:k`` with key ``x`` shared one cache entry, one lock and one
provider key.
"""

from __future__ import annotations

import hashlib

SCOPE_VERSION = "s1"
"""Marks derived names, so a later derivation cannot meet this one."""


def scope_text(merchant: str, key: str) -> str:
    """``<len(merchant)>:<merchant>:<key>``: the pair, recoverable from the text alone."""
    return f"{len(merchant)}:{merchant}:{key}"


def scope_digest(merchant: str, key: str) -> str:
    """``s1-`` and the hex SHA-256 of ``scope_text`` (``surrogatepass``: total on any str)."""
    raw = scope_text(merchant, key).encode("utf-8", "surrogatepass")
    return f"{SCOPE_VERSION}-{hashlib.sha256(raw).hexdigest()}"


def split_scope_text(text: str) -> tuple[str, str]:
    """The inverse of ``scope_text`` (used by the property test to show injectivity)."""
    length, _, rest = text.partition(":")
    n = int(length)
    if rest[n : n + 1] != ":":
        raise ValueError(f"not a scope text: {text!r}")
    return rest[:n], rest[n + 1 :]
