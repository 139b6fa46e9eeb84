"""Mutants: the hardened design with one plausible bug each, to prove the property gate bites.

Each mutant is ``HARDENED`` with one policy decision undone (a few need two flags to express
one bug, e.g. "a short lock TTL *without* fencing"). Every entry says what the bug is and
which real failure it mirrors. None of them is in ``core.variants.VARIANTS``: a user-facing
``--variant`` can never select a mutant. They are reached only through ``MUTANTS`` here, from
the property gate (``verify.runner``, ``payharness verify --mutants``, ``tests/verify``).

``EQUIVALENT`` lists bugs that are real in a lock-reliant design but cannot change any
outcome in ``hardened`` (the database's unique constraints and compare-and-set decide, the
lock is only an optimisation); they are kept to document why, and the gate reports them
apart instead of counting them as survivors.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType

from core.variants import HARDENED, Variant
from verify.code_mutants import CODE_BUGS, CodeBug
from verify.patching import SourcePatch, applied


@dataclass(frozen=True, slots=True)
class Mutant:
    """A deliberately broken design: the variant, the bug, and the failure it mirrors."""

    name: str
    variant: Variant
    bug: str
    mirrors: str
    patches: tuple[SourcePatch, ...] = ()
    """Source edits applied while the gate runs (code-level mutants); none for flag mutants."""

    @property
    def kind(self) -> str:
        return "code" if self.patches else "flag"

    @contextmanager
    def applied(self) -> Iterator[None]:
        """The mutant's code edits in place (restored afterwards); nothing for flag mutants."""
        with applied(self.patches):
            yield


def _mutant(name: str, bug: str, mirrors: str, **changes: object) -> Mutant:
    flipped = ", ".join(f"{k}={v!r}" for k, v in changes.items())
    variant = HARDENED.with_changes(f"mutant:{name}", f"hardened with {flipped}: {bug}", **changes)
    return Mutant(name, variant, bug, mirrors)


_ALL: tuple[Mutant, ...] = (
    _mutant(
        "unknown-cached-as-failure",
        "a timeout or lost provider reply is answered and cached as 'failed' (the seed's "
        "'Failed? → cache error') instead of 'pending, will be reconciled'",
        "the client is told the payment failed, tries another card, and is charged twice; "
        "support sees a successful charge for an order marked unpaid",
        unknown_is_pending=False,
        cache_failures=True,
    ),
    _mutant(
        "charge-before-pending",
        "the provider is charged before the PENDING row is inserted (save after charge)",
        "a server dies between the charge and the save: money taken, no row, nothing for "
        "the reconciler to find; two racing servers both charge",
        pending_before_charge=False,
    ),
    _mutant(
        "reconcile-fresh-key",
        "the reconciler asks the provider again with a new idempotency key",
        "a lost reply followed by reconciliation charges the customer a second time",
        reconcile_with_original_key=False,
    ),
    _mutant(
        "blind-transitions",
        "state transitions are plain UPDATEs without compare-and-set on the expected state",
        "a slow server (zombie) and the reconciler both settle one payment: a COMPLETED row is "
        "dragged back to PROCESSING or FAILED",
        cas_transitions=False,
    ),
    _mutant(
        "fingerprint-ignores-amount",
        "the request fingerprint leaves the amount out",
        "a client bug reuses a key for a bigger basket and is told 'paid' for an amount that "
        "was never charged",
        fingerprint_includes_amount=False,
    ),
    _mutant(
        "replay-ignores-fingerprint",
        "replays from the cache or the database do not compare the request's fingerprint",
        "a key reused for another order replays the first order's payment: the second order "
        "ships unpaid (Stripe's idempotency_error exists to prevent exactly this)",
        check_fingerprint=False,
    ),
    _mutant(
        "reconcile-after-key-window",
        "the reconciler and resumed requests re-ask the provider by key past the 24 h window",
        "the provider has forgotten the key, so the 'replay' is a brand-new charge a day later",
        reconcile_respects_key_window=False,
    ),
    _mutant(
        "short-lock-ttl-unfenced",
        "the lock TTL (200 ms) is below the provider timeout and transitions are not fenced",
        "the lock expires while the provider is still working; a second server takes over the "
        "key and both write the row (Kleppmann's fencing-token argument)",
        lock_ttl_ms=200,
        cas_transitions=False,
    ),
    _mutant(
        "no-live-order-constraint",
        "the partial unique index 'one live payment per order' is missing",
        "a client that lost its key retries with a fresh UUID and the order is charged twice",
        one_live_payment_per_order=False,
    ),
    _mutant(
        "reconciler-skips-stale-pending",
        "the reconciler only looks at RECONCILE rows, not stale PENDING/PROCESSING ones",
        "a server dies after inserting PENDING; past the key window nobody resolves the row and "
        "the client polls 'processing' forever",
        reconcile_pending=False,
    ),
    _mutant(
        "stale-before-lock-ttl-unfenced",
        "rows count as abandoned after 100 ms (below the lock TTL) and transitions are blind",
        "the reconciler grabs a payment a live server is still settling and both write it",
        stale_after_ms=100,
        cas_transitions=False,
    ),
    _mutant(
        "provider-key-unscoped",
        "the provider key (and the Redis keys) are the client's key, not merchant:key",
        "two merchants' clients pick the same key: the provider refuses the second merchant's "
        "charge as an idempotency_error, and that merchant is told '500 failed' and then, on "
        "retry, '402 failed' with a payment: answers for one key disagree",
        scope_provider_key=False,
    ),
)


def _code_mutant(bug: CodeBug) -> Mutant:
    variant = HARDENED.with_changes(f"mutant:{bug.name}", f"hardened with a code bug: {bug.bug}")
    return Mutant(bug.name, variant, bug.bug, bug.mirrors, bug.patches)


_ALL += tuple(_code_mutant(bug) for bug in CODE_BUGS)

_EQUIVALENT = (
    _mutant(
        "lock-release-without-token",
        "the lock is released with a plain DEL instead of compare-and-delete",
        "a server whose lock expired deletes the lock a second server now holds; in a design "
        "that relies on the lock, a third server then processes the key concurrently",
        lock_release_checks_token=False,
    ),
)

MUTANTS: MappingProxyType[str, Mutant] = MappingProxyType({m.name: m for m in _ALL})
"""Mutants the gate must kill: each breaks an exactly-once property the checker judges.
Flag mutants first, then the code-level ones (``verify.code_mutants``, ``kind`` "code")."""

EQUIVALENT: MappingProxyType[str, Mutant] = MappingProxyType({m.name: m for m in _EQUIVALENT})
"""Real bugs elsewhere that ``hardened``'s other defences make unobservable (see module doc)."""


def mutant_named(name: str) -> Mutant:
    for table in (MUTANTS, EQUIVALENT):
        if name in table:
            return table[name]
    known = ", ".join(sorted([*MUTANTS, *EQUIVALENT]))
    raise ValueError(f"unknown mutant {name!r}; known mutants: {known}")
