"""Programs the property gate once found against ``hardened``, replayed exactly: each failed
before its fix and must hold now."""

from __future__ import annotations

from core.scope import scope_digest
from core.variants import HARDENED
from verify.runner import replay

SEPARATOR_IN_MERCHANT_FOUND = """
state = HardenedWorld()
state.reconcile()
state.reconcile()
state.reconcile()
state.reconcile()
state.reconcile()
state.reconcile()
state.advance_clock(ms=150)
state.reconcile()
state.reconcile()
keys_0 = state.new_key(amount=1, currency='usd', key='1', merchant='m1:k', metadata={'note': '', 'ключ': '', 'a:b': ''}, order='o1', source='tok_visa')
state.reconcile()
(flows_0,) = state.send_other_payload(change='amount', key=keys_0, until='PaymentInsert')
state.reconcile()
state.reconcile()
state.reconcile()
keys_1 = state.same_key_other_merchant(like=keys_0)
state.reconcile()
keys_2 = state.new_key(amount=1, currency='usd', key='k:1', merchant='m1', metadata={}, order='o1', source='tok_visa')
state.backend_fault(fault='redis down')
state.resume(flow=flows_0, until='done')
state.reconcile()
state.reconcile()
state.send_other_payload(change='amount', key=keys_2, until='done')
state.reconcile()
state.send(key=keys_2, until='done')
state.advance_clock(ms=150)
(flows_1,) = state.send_other_payload(change='currency', key=keys_0, until='PaymentInsert')
flows_2 = state.start_reconciler()
state.teardown()
"""  # noqa: E501
"""The gate's shrunk program (dev profile, issue 17): merchant ``m1:k``'s key ``1`` and merchant
``m1``'s key ``k:1`` were both scoped to ``m1:k:1``, at the provider and in Redis. m1's charge
met an ``idempotency_error`` (500 failed, later 402 failed: E4) and m1:k's retry was answered
from m1's cached entry with 422 (E5)."""

SEPARATOR_IN_MERCHANT_SHORT = """
state = HardenedWorld()
keys_0 = state.new_key(amount=1000, currency='usd', key='1', merchant='m1:k', metadata={}, order='o1', source='tok_visa')
keys_1 = state.new_key(amount=1000, currency='usd', key='k:1', merchant='m1', metadata={}, order='o2', source='tok_visa')
state.send(key=keys_0, until='done')
state.send(key=keys_1, until='done')
state.teardown()
"""  # noqa: E501
"""The same bug in five steps: m1's new key for an unpaid order was answered with m1:k's
cached payment's 422, for good (E7)."""


def test_merchants_whose_names_contain_the_separator_keep_their_keys_apart() -> None:
    replay(SEPARATOR_IN_MERCHANT_FOUND.strip(), HARDENED)
    replay(SEPARATOR_IN_MERCHANT_SHORT.strip(), HARDENED)


def test_scoped_keys_are_one_to_one() -> None:
    pairs = [("m1", "k:1"), ("m1:k", "1"), ("m1%3Ak", "1"), ("m1%", "3Ak:1"), ("m", "")]
    scoped = [scope_digest(m, k) for m, k in pairs]
    assert len(set(scoped)) == len(scoped), scoped


REASK_REFUSED_THEN_ZOMBIE_CHARGES = """
state = HardenedWorld()
state.provider_fault(fault='charge: unavailable')
keys_0 = state.new_key(amount=50, currency='usd', key='k1', merchant='m1', metadata={},
                       order='o1', source='tok_visa')
(flows_0,) = state.send(key=keys_0, until='a commit')
state.servers_pause_while_reconciling(ms=61000)
state.resume(flow=flows_0, until='done')
state.teardown()
"""
"""Found by the ``ci`` gate at example 10,089 (E4): a server inserts PENDING
and pauses 61 s; the reconciler's re-ask by key is refused (``Unavailable``: nothing ran),
so it looks the charge up, finds none and fails the row; the server wakes, charges (the
provider never stored the key), its completion is fenced off and its client is told
'failed' for a charge that succeeded. The re-ask by key is the fence against that zombie;
a refused or unanswered re-ask inside the key window now leaves the row for the next pass
(``core/flows/reconcile.py``, ``_resolve``) instead of failing it by lookup. The same hole
let a client's retry charge a row the reconciler had just failed (the gate found that too,
on Stripe and on both PayPal contracts)."""


def test_a_refused_reask_does_not_fail_a_row_a_zombie_still_charges() -> None:
    replay(REASK_REFUSED_THEN_ZOMBIE_CHARGES, HARDENED)
