"""Every composite of merchant and key is injective: distinct (merchant, key) pairs never
share a Redis cache key, lock key or provider idempotency key, whatever they contain."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

from hypothesis import given, settings
from hypothesis import strategies as st

from core.domain import PaymentRequest
from core.flows.payment import RedisKeys, provider_key
from core.scope import scope_digest, scope_text, split_scope_text
from core.variants import HARDENED

# separators, braces (Redis hash tags), digits (the length prefix) and any other code point
SPECIAL = st.sampled_from(":{}0123456789-")
names = st.text(st.one_of(SPECIAL, st.characters(codec="utf-8")), max_size=12)
keys = st.text(  # an Idempotency-Key: 1-255 printable ASCII
    st.one_of(SPECIAL, st.characters(min_codepoint=0x20, max_codepoint=0x7E)),
    min_size=1,
    max_size=12,
)


def scopes(merchant: str, key: str) -> tuple[str, ...]:
    # any strings, not only what PaymentRequest validates: the derivation must not rely on it
    request = cast(PaymentRequest, SimpleNamespace(merchant=merchant, idempotency_key=key))
    keys = RedisKeys.for_request(HARDENED, request)
    return (keys.cache, keys.lock, provider_key(HARDENED, request))


@settings(max_examples=500)
@given(a=st.tuples(names, keys), b=st.tuples(names, keys))
def test_distinct_pairs_never_share_a_scope(a: tuple[str, str], b: tuple[str, str]) -> None:
    assert split_scope_text(scope_text(*a)) == a
    if a != b:
        assert scope_text(*a) != scope_text(*b)
        assert not set(scopes(*a)) & set(scopes(*b))
    else:
        assert scopes(*a) == scopes(*b)


@settings(max_examples=300)
@given(merchant=names, key=keys, cut=st.integers(0, 24))
def test_moving_the_separator_changes_the_scope(merchant: str, key: str, cut: int) -> None:
    """``M`` + ``k:x`` against ``M:k`` + ``x``: the probe's collision, generalised."""
    joined = f"{merchant}:{key}"
    other = (joined[:cut], joined[cut + 1 :]) if cut < len(joined) else (joined, "x")
    if other != (merchant, key) and other[1]:
        assert not set(scopes(merchant, key)) & set(scopes(*other))


def test_the_probes_pair() -> None:
    assert not set(scopes("M", "k:x")) & set(scopes("M:k", "x"))


def test_the_lock_and_the_cache_share_one_hash_tag_without_braces_inside() -> None:
    cache, lock, pkey = scopes("m{1}:", "k}{")
    tag = cache[cache.index("{") : cache.index("}") + 1]
    assert lock.startswith(f"idem:{tag}") and tag.count("{") == tag.count("}") == 1
    assert pkey == scope_digest("m{1}:", "k}{") and pkey.isascii() and len(pkey) <= 255
