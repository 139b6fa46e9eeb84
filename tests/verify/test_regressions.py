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
