"""Every (from, to) pair of the payment state machine is either allowed or refused."""

from __future__ import annotations

import itertools

import pytest

from core.domain import IllegalTransition, PaymentState, check_transition, is_allowed

S = PaymentState
ALLOWED = {
    (S.PENDING, S.PROCESSING),
    (S.PENDING, S.FAILED),
    (S.PENDING, S.RECONCILE),
    (S.PROCESSING, S.COMPLETED),
    (S.PROCESSING, S.RECONCILE),
    (S.RECONCILE, S.COMPLETED),
    (S.RECONCILE, S.FAILED),
}
PAIRS = list(itertools.product(PaymentState, repeat=2))


@pytest.mark.parametrize(("source", "target"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_transition_pair(source: PaymentState, target: PaymentState) -> None:
    if (source, target) in ALLOWED:
        assert is_allowed(source, target)
        check_transition("p", source, target)
    else:
        assert not is_allowed(source, target)
        with pytest.raises(IllegalTransition) as info:
            check_transition("p", source, target)
        assert f"{source} → {target}" in str(info.value)


def test_all_25_pairs_are_covered() -> None:
    assert len(PAIRS) == 25
