"""Code-level mutants are data: each patch fits the code, is in place only while applied,
and changes what it says it changes."""

from __future__ import annotations

import pytest

import core.flows.payment as payment
import core.flows.reconcile as reconcile
from core.variants import HARDENED
from verify.machine import machine_for
from verify.mutants import MUTANTS
from verify.patching import SourcePatch, applied

CODE = [m for m in MUTANTS.values() if m.kind == "code"]


def test_there_are_enough_code_mutants() -> None:
    assert len(CODE) >= 8
    assert all(m.bug and m.mirrors and m.patches for m in CODE)
    assert all(m.variant.name == f"mutant:{m.name}" for m in CODE)


@pytest.mark.parametrize("mutant", CODE, ids=[m.name for m in CODE])
def test_each_patch_fits_and_is_undone(mutant) -> None:  # type: ignore[no-untyped-def]
    bindings = [patch.build()[:3] for patch in mutant.patches]
    with mutant.applied():
        for owner, name, original in bindings:
            assert owner.__dict__[name] is not original
    for owner, name, original in bindings:
        assert owner.__dict__[name] is original


def test_a_patch_reaches_names_imported_elsewhere() -> None:
    original = payment.within_key_window
    assert reconcile.within_key_window is original
    with MUTANTS["key-window-margin-added"].applied():
        assert payment.within_key_window is not original
        assert reconcile.within_key_window is payment.within_key_window
        row = _row(created_ms=0)
        assert payment.within_key_window(HARDENED, row, 23 * 3_600_000)  # hardened: 22 h
    assert reconcile.within_key_window is original
    assert not payment.within_key_window(HARDENED, _row(created_ms=0), 23 * 3_600_000)


def test_a_patch_that_no_longer_fits_fails_loudly() -> None:
    stale = SourcePatch("core.flows.payment", "within_key_window", "no such text", "x")
    with pytest.raises(ValueError, match="occurs 0 times"), applied((stale,)):
        pass
    assert payment.within_key_window.__module__ == "core.flows.payment"


def test_a_code_mutant_changes_behaviour_hardened_keeps() -> None:
    """The double-unit bug charges 100x the basket; hardened charges the basket."""
    for mutant, expected in ((None, 1000), (MUTANTS["amount-in-minor-units-twice"], 100_000)):
        with mutant.applied() if mutant else applied(()):
            machine = machine_for(HARDENED)()
            key = machine.new_key(merchant="m1", order="o1", source="tok_visa")
            machine.send(key=key, until="done")
            amounts = [c.amount for c in machine.world.stripe.charges.values()]
        assert amounts == [expected]


def _row(*, created_ms: int):  # type: ignore[no-untyped-def]
    from core.domain import Payment, PaymentState

    return Payment(
        "pay_1",
        "m1",
        "o1",
        "k1",
        1000,
        "usd",
        "tok_visa",
        "fp",
        "m1:k1",
        PaymentState.PENDING,
        created_ms,
    )
