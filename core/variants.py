"""Named design variants: each a documented set of policy choices the flows obey.

``seed`` is the diagrams taken literally. ``hardened`` departs from it only where a scenario
shows ``seed`` breaking; each departure names the failure it prevents. Users pick a variant by
name from ``VARIANTS``; deliberately broken variants (mutants) live in ``verify.mutants`` and
are reached only through the test harness.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from types import MappingProxyType

HOUR_MS = 3_600_000
PROVIDER_KEY_WINDOW_MS = 24 * HOUR_MS
"""Stripe keeps an idempotency key's result for at least 24 hours, then may forget it."""


@dataclass(frozen=True, slots=True)
class Variant:
    """Policy choices of one design. Field docs say what the hardened choice prevents."""

    name: str
    summary: str

    scope_provider_key: bool
    """Send the (merchant, key) scope to the provider (an injective digest, ``core.scope``).
    Prevents two merchants' equal client keys from sharing one charge (a replay of another
    merchant's payment) or refusing each other."""

    db_lookup_scoped: bool
    """Look payments up by (merchant, key), not key alone: never show another merchant's row."""

    check_fingerprint: bool
    """Refuse a key reused with another payload with 422 (IETF draft), instead of replaying."""

    fingerprint_includes_amount: bool
    """The fingerprint covers the amount, so 'same key, other amount' is caught."""

    pending_before_charge: bool
    """Insert a PENDING row (unique on merchant+key and on the order's live payment) before
    charging: the database, not the lock, decides who charges; a crash leaves a row to
    reconcile instead of an orphan charge. The insert is the lookup: only a refused insert
    reads the key's row."""

    one_live_payment_per_order: bool
    """A unique constraint on the order's live payment: a new key cannot charge a paid order."""

    unknown_is_pending: bool
    """A timeout, 5xx or lost response is 'pending, will be reconciled' (202), never a cached
    failure: caching it tells the client 'failed' for a charge that may have succeeded."""

    cache_failures: bool
    """The seed's 'failed → cache error': every provider error is cached as the key's answer."""

    lock_release_checks_token: bool
    """Release by compare-and-delete: a zombie whose lock expired cannot delete a live lock."""

    cache_check_takes_lock: bool
    """Check the cache and take the lock in one atomic step (``CacheGetOrLock``, a Lua script):
    one Redis round trip instead of two, and nothing can land between a miss and the lock."""

    put_releases_lock: bool
    """Cache the answer and release the lock in one atomic step (``CachePutAndRelease``, a Lua
    script) when the flow holds the lock: one Redis round trip instead of two."""

    cas_transitions: bool
    """Transitions are compare-and-set on the expected state: a fence for zombies."""

    lock_ttl_ms: int
    """Lock lifetime; hardened keeps it above the provider timeout plus the save."""

    lock_wait_ms: int
    lock_wait_attempts: int | None
    """The seed waits 100 ms and retries without bound; hardened gives up with 409 and
    Retry-After, so a stuck key cannot pin a worker."""

    proceed_without_redis: bool
    """When Redis is down, carry on: the Postgres constraints decide, Redis is an optimisation."""

    reconcile_pending: bool
    """The reconciler also resolves stale PENDING/PROCESSING rows (crash after the insert)."""

    reconcile_with_original_key: bool
    """The reconciler re-asks the provider with the payment's own key (a replay), never a
    fresh one, which would charge again."""

    reconcile_margin_ms: int
    """Re-asking by key only while the row is this far inside the provider's 24 h key window;
    older rows are resolved by looking the charge up, since a forgotten key charges anew."""

    reconcile_respects_key_window: bool

    stale_after_ms: int
    """A PENDING/PROCESSING row older than this is presumed abandoned (above the lock TTL)."""

    provider_timeout_ms: int
    """How long a server waits for the provider before the outcome is unknown."""

    cache_ttl_ms: int = PROVIDER_KEY_WINDOW_MS

    key_window_from_provider: bool = False
    """Take the provider's key window from its contract (``core.providers``: Stripe 24 h,
    PayPal Orders v2 6 h) instead of Stripe's 24 h: on PayPal a row re-asked by key 7 h
    later would otherwise be charged anew (the key is forgotten), a second charge."""

    lookup_waits_for_provider_lag: bool = False
    """Fall back to looking a charge up only once the provider's list would show it
    (PayPal's transaction search lags up to 3 h): an earlier lookup finds nothing and fails a
    row whose charge succeeded."""

    request_deadline_ms: int = HOUR_MS
    """No server works on one request longer than this: the design's stated assumption (a
    request older than this has ended, answered or abandoned)."""

    lookup_waits_for_request_deadline: bool = False
    """After a refused or unanswered re-ask, fail a row by a lookup that found no charge only
    once the row is older than ``request_deadline_ms``: before that a paused server or a
    client's retry may still send the charge, and would land on a row failed by lookup (E4).
    After it the lookup decides, so a key whose error the provider keeps replaying (Stripe
    saves a 500 for 24 h) is not left unresolved for the whole key window (E5)."""

    @property
    def doc(self) -> dict[str, str]:
        """Each policy field with its value, for tables in the README and reports."""
        return {f.name: str(getattr(self, f.name)) for f in fields(self)}

    def with_changes(self, name: str, summary: str, **changes: object) -> Variant:
        return replace(self, name=name, summary=summary, **changes)  # type: ignore[arg-type]


SEED = Variant(
    name="seed",
    summary="The diagrams literally: cache check, lock with wait-100-ms-and-retry, DB check, "
    "charge with the client's key, failed → cache error, save after charge, plain lock delete.",
    scope_provider_key=False,
    db_lookup_scoped=False,
    check_fingerprint=False,
    fingerprint_includes_amount=True,
    pending_before_charge=False,
    one_live_payment_per_order=False,
    unknown_is_pending=False,
    cache_failures=True,
    lock_release_checks_token=False,
    cache_check_takes_lock=False,
    put_releases_lock=False,
    cas_transitions=False,
    lock_ttl_ms=10_000,
    lock_wait_ms=100,
    lock_wait_attempts=None,
    proceed_without_redis=False,
    reconcile_pending=False,
    reconcile_with_original_key=True,
    reconcile_margin_ms=0,
    reconcile_respects_key_window=False,
    stale_after_ms=60_000,
    provider_timeout_ms=30_000,
)

HARDENED = Variant(
    name="hardened",
    summary="Scoped provider key, fingerprint with 422, PENDING row under unique constraints "
    "before the charge, unknown outcome → 202 and reconcile, token-checked release, "
    "compare-and-set transitions, bounded lock wait with 409, reconcile inside the key window.",
    scope_provider_key=True,
    db_lookup_scoped=True,
    check_fingerprint=True,
    fingerprint_includes_amount=True,
    pending_before_charge=True,
    one_live_payment_per_order=True,
    unknown_is_pending=True,
    cache_failures=False,
    lock_release_checks_token=True,
    cache_check_takes_lock=True,
    put_releases_lock=True,
    cas_transitions=True,
    lock_ttl_ms=45_000,
    lock_wait_ms=100,
    lock_wait_attempts=5,
    proceed_without_redis=True,
    reconcile_pending=True,
    reconcile_with_original_key=True,
    reconcile_margin_ms=2 * HOUR_MS,
    reconcile_respects_key_window=True,
    stale_after_ms=60_000,
    provider_timeout_ms=30_000,
    key_window_from_provider=True,
    lookup_waits_for_provider_lag=True,
    lookup_waits_for_request_deadline=True,
)

VARIANTS: MappingProxyType[str, Variant] = MappingProxyType({v.name: v for v in (SEED, HARDENED)})


def variant_named(name: str) -> Variant:
    """Look a user-facing variant up by name, listing the known ones when it is not there."""
    try:
        return VARIANTS[name]
    except KeyError:
        known = ", ".join(sorted(VARIANTS))
        raise ValueError(f"unknown variant {name!r}; known variants: {known}") from None
