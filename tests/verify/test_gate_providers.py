"""The property gate per provider: hardened holds on PayPal's contract too (both readings of
'might fail the second'), and a hardened that keeps Stripe's 24 h key window is caught on
PayPal with a replayable program.

Budget: the ``ci`` profile's full budget runs once, on Stripe (``test_gate.py``). Here each
PayPal contract runs hardened on an explicit, smaller budget, ``PROVIDER_EXAMPLES`` (a
fifth of ``ci``, derandomized like it), so the whole test suite stays well inside CI's
allowance; ``payharness verify`` and the nightly profile are where PayPal gets the long
search. Under a profile smaller than that (``dev``), the profile's own budget is used."""

from __future__ import annotations

import pytest

from core.providers import PAYPAL, PAYPAL_WAIT, ProviderContract
from core.variants import HARDENED
from verify.machine import GateFailure
from verify.profiles import CI_EXAMPLES
from verify.runner import replay, replayable_program, run_gate

STRIPE_TUNED = HARDENED.with_changes(
    "hardened-stripe-window",
    "hardened with Stripe's 24 h key window baked in",
    key_window_from_provider=False,
)
PROVIDER_EXAMPLES = CI_EXAMPLES // 5
"""Hardened's examples per PayPal contract here (see the module doc)."""


@pytest.mark.parametrize("provider", [PAYPAL, PAYPAL_WAIT], ids=lambda p: p.name)
def test_hardened_holds_on_paypal(provider: ProviderContract) -> None:
    from hypothesis import settings

    examples = min(PROVIDER_EXAMPLES, settings.default.max_examples)
    result = run_gate(HARDENED, provider=provider, examples=examples)
    assert not result.failed, result.message
    assert result.stats.examples > 0


def test_a_stripe_window_is_caught_on_paypal(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_gate(STRIPE_TUNED, provider=PAYPAL)
    assert result.failed and "E1" in result.broken, result.message
    program = replayable_program(result)
    assert program.startswith("state = ")
    with pytest.raises(GateFailure):
        replay(program, STRIPE_TUNED, PAYPAL)
    with capsys.disabled():
        print(f"\nStripe's window on PayPal caught: {result.headline}\n{program}")
