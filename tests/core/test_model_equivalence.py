"""The core's indexed Postgres and Stripe models answer exactly like the plain reference
models (the specification in ``tests/core/reference_models.py``)."""

from __future__ import annotations

import random

import pytest

from core.domain import Payment, PaymentState
from core.effects import (
    Conflict,
    Fault,
    OrderMarkPaid,
    PaymentInsert,
    PaymentTransition,
)
from core.models.clock import ModelClock
from core.models.postgres_model import PostgresModel
from core.models.stripe_model import StripeModel
from tests.core.reference_models import ReferencePostgresModel, ReferenceStripeModel


def _payment(rng: random.Random, n: int) -> Payment:
    return Payment(
        id=f"pay_{n}",
        merchant=f"m{rng.randrange(2)}",
        order=f"o{rng.randrange(6)}",
        idempotency_key=f"k{rng.randrange(6)}",
        amount=1000,
        currency="usd",
        source="tok_visa",
        fingerprint="fp",
        provider_key="pk",
        state=rng.choice([PaymentState.PENDING, PaymentState.FAILED, PaymentState.COMPLETED]),
        created_ms=n,
    )


def _outcome(model: PostgresModel | ReferencePostgresModel, writes: list[object]) -> object:
    try:
        return model.execute(writes)  # type: ignore[arg-type]
    except Fault as fault:
        return (type(fault).__name__, str(fault))


@pytest.mark.parametrize("scope", ["merchant", "global"])
@pytest.mark.parametrize("one_live", [True, False])
def test_postgres_model_answers_like_the_reference(scope: str, one_live: bool) -> None:
    rng = random.Random(f"{scope}{one_live}")
    clock = ModelClock()
    core = ReferencePostgresModel(clock, key_scope=scope, one_live_per_order=one_live)  # type: ignore[arg-type]
    fast = PostgresModel(
        clock,
        key_scope=scope,  # type: ignore[arg-type]
        one_live_per_order=one_live,
        keep_legal_transitions=False,
    )
    conflicts = 0
    for n in range(400):
        clock.now = n
        ids = list(core.payments) or ["pay_none"]
        writes: list[object] = []
        for _ in range(rng.randint(1, 3)):
            roll = rng.random()
            if roll < 0.5:
                writes.append(PaymentInsert(_payment(rng, n * 10 + len(writes))))
            elif roll < 0.85:
                writes.append(
                    PaymentTransition(
                        rng.choice(ids),
                        rng.choice([None, *PaymentState]),
                        rng.choice(list(PaymentState)),
                        charge_id=rng.choice([None, "ch_1"]),
                    )
                )
            else:
                writes.append(OrderMarkPaid("m0", f"o{rng.randrange(6)}", rng.choice(ids)))
        if rng.random() < 0.05:
            core.fail_next_commits()
            fast.fail_next_commits()
        a, b = _outcome(core, writes), _outcome(fast, writes)
        assert a == b, (n, writes)
        conflicts += isinstance(a, tuple) and a[0] == Conflict.__name__
        key = f"k{rng.randrange(6)}"
        merchant = rng.choice([None, "m0", "m1"])
        assert core.find(merchant, key) == fast.find(merchant, key)
        assert core.to_reconcile(n - 50, 100) == fast.to_reconcile(n - 50, 100)
    assert core.payments == fast.payments
    assert core.orders == fast.orders
    assert [t for t in core.transitions if not t.legal] == fast.transitions
    assert len(core.transitions) == fast.transitions_applied
    assert fast.transitions  # blind writes did make illegal transitions to compare
    assert conflicts > 10  # the sequence did exercise the constraints


def test_stripe_model_forgets_keys_like_the_reference() -> None:
    rng = random.Random(5)
    clock = ModelClock()
    core, fast = (
        ReferenceStripeModel(clock, key_window_ms=1000),
        StripeModel(clock, key_window_ms=1000),
    )
    pending: list[tuple[object, object]] = []
    for n in range(600):
        clock.now += rng.randint(0, 40)
        key = f"k{rng.randrange(40)}"
        amount = rng.choice([500, 700])
        answers = []
        for model in (core, fast):
            try:
                answers.append(model.begin(key, amount, "usd", "tok_visa", {}))
            except Fault as fault:
                answers.append((type(fault).__name__, str(fault)))
        a, b = answers
        assert type(a) is type(b) and (a == b or hasattr(a, "key")), (n, a, b)
        if hasattr(a, "key"):
            pending.append((a, b))
        if pending and rng.random() < 0.7:
            ta, tb = pending.pop(rng.randrange(len(pending)))
            applied = rng.random() < 0.9
            results = []
            for model, ticket in ((core, ta), (fast, tb)):
                try:
                    results.append(model.finish(ticket, applied=applied))  # type: ignore[arg-type]
                except Fault as fault:
                    results.append((type(fault).__name__, str(fault)))
            assert results[0] == results[1]
    assert core.charges == fast.charges
    assert core.keys_in_window() == fast.keys_in_window()
    assert core._keys == core.keys_in_window(), "the reference forgets at once"
