"""Code-level mutants: hand-written bugs in the flows, the domain and the models, as data.

Flag mutants (``verify.mutants``) undo a documented policy decision; these break the code
that carries out a decision the flags leave alone: a compare-and-set forgotten in one
write, a 409 misread, a wrong unit, a model of Redis or Stripe that forgets the semantics
the design leans on. Each is ``hardened`` with one ``SourcePatch`` (``verify.patching``)
applied for the gate's run, and lives in the gate's mutant table beside the flag mutants.
"""

from __future__ import annotations

from dataclasses import dataclass

from verify.patching import SourcePatch


@dataclass(frozen=True, slots=True)
class CodeBug:
    name: str
    bug: str
    mirrors: str
    patches: tuple[SourcePatch, ...]


def _bug(name: str, bug: str, mirrors: str, *patches: SourcePatch) -> CodeBug:
    return CodeBug(name, bug, mirrors, patches)


CODE_BUGS = (
    _bug(
        "completion-without-cas",
        "completion_writes writes the COMPLETED transition without its compare-and-set",
        "a zombie's late 'charge succeeded' drags a row the reconciler already settled to "
        "COMPLETED again, or completes a FAILED row",
        SourcePatch(
            "core.flows.payment",
            "completion_writes",
            "state if variant.cas_transitions else None,",
            "None,",
        ),
    ),
    _bug(
        "transition-without-cas",
        "_transition (PROCESSING, FAILED, RECONCILE) drops the expected state",
        "a slow server marks RECONCILE or FAILED a payment someone else already completed",
        SourcePatch(
            "core.flows.payment",
            "_transition",
            "expected = payment.state if variant.cas_transitions else None",
            "expected = None",
        ),
    ),
    _bug(
        "reconciler-409-as-not-charged",
        "the reconciler reads the provider's 409 (the first request still executing) as "
        "'look it up', finds no charge yet and fails the row",
        "the charge lands a moment later: the customer is charged, the payment says FAILED",
        SourcePatch(
            "core.flows.reconcile",
            "_resolve",
            "return None  # the first request is still executing at the provider",
            "return (yield from _resolve_by_lookup(variant, row))",
        ),
    ),
    _bug(
        "redis-nx-ignores-expiry",
        "the Redis model's SET NX counts an expired key as present",
        "a lock left by a crashed server never expires: the key answers 409 for ever",
        SourcePatch(
            "core.models.redis_model",
            "RedisModel.set",
            "if nx and self._live(key) is not None:",
            "if nx and key in self._data:",
        ),
    ),
    _bug(
        "amount-in-minor-units-twice",
        "the provider request converts the amount to minor units a second time (x100)",
        "a 10.00 USD basket is charged 1,000.00 USD and the client is told it paid 10.00",
        SourcePatch(
            "core.flows.payment",
            "charge_effect",
            "amount=payment.amount,",
            "amount=payment.amount * 100,",
        ),
    ),
    _bug(
        "key-window-margin-added",
        "within_key_window adds the safety margin instead of subtracting it (26 h, not 22 h)",
        "a day-old payment is re-asked by key after the provider forgot it: a second charge",
        SourcePatch(
            "core.flows.payment",
            "within_key_window",
            "window - variant.reconcile_margin_ms",
            "window + variant.reconcile_margin_ms",
        ),
    ),
    _bug(
        "lookup-by-charge-id-only",
        "past the key window the reconciler looks a charge up only by the row's charge id, "
        "not by the payment's metadata",
        "a server died after charging, before saving the charge id: the reconciler finds "
        "nothing and fails a payment that was charged",
        SourcePatch(
            "core.flows.reconcile",
            "_charge_of",
            "matches = yield from perform(ProviderChargesForPayment(row.id))",
            "matches = []",
        ),
    ),
    _bug(
        "replay-skips-cached-fingerprint",
        "an answer replayed from the Redis cache is not compared with the request's fingerprint "
        "(the database path still is)",
        "a key reused for another basket gets the first basket's cached 'paid'",
        SourcePatch(
            "core.flows.payment",
            "_replay",
            "if variant.check_fingerprint and cached.fingerprint not in (None, fp):",
            "if False:",
        ),
    ),
    _bug(
        "postgres-cas-ignored",
        "the Postgres model applies an UPDATE ... WHERE state = expected whatever the state",
        "the database no longer fences zombies: the design's compare-and-set is decoration",
        SourcePatch(
            "core.models.postgres_model",
            "PostgresModel._transition",
            "if write.expected is not None and row.state is not write.expected:",
            "if False:",
        ),
    ),
    _bug(
        "provider-forgets-keys-after-a-minute",
        "the Stripe model forgets idempotency keys after 60 s instead of 24 h",
        "a reconciler re-asking by key inside what it believes is the window charges anew",
        SourcePatch(
            "core.models.stripe_model",
            "StripeModel._entry",
            "horizon = now - self.key_window_ms",
            "horizon = now - self.key_window_ms // 1440",
        ),
    ),
    _bug(
        "fingerprint-ignores-source",
        "the request fingerprint leaves the payment source (the card) out",
        "a key reused with another card replays the first card's answer instead of a 422",
        SourcePatch("core.domain", "PaymentRequest.payload", '"source": self.source,', ""),
    ),
    _bug(
        "fingerprint-ignores-currency",
        "the request fingerprint leaves the currency out",
        "a key reused for 1,000 JPY after 1,000 USD (or 1.000 KWD) replays the first answer, "
        "or charges the first currency, instead of a 422",
        SourcePatch("core.domain", "PaymentRequest.payload", '"currency": self.currency,', ""),
    ),
)
"""Each must be killed by the gate like a flag mutant."""
