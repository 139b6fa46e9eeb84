"""The property gate per provider: hardened holds on PayPal's contract too (both readings of
'might fail the second'), and a hardened that keeps Stripe's 24 h key window is caught on
PayPal with a replayable program."""

from __future__ import annotations

import pytest

from core.providers import PAYPAL, PAYPAL_WAIT, ProviderContract
from core.variants import HARDENED
from verify.machine import GateFailure
from verify.runner import replay, replayable_program, run_gate

STRIPE_TUNED = HARDENED.with_changes(
    "hardened-stripe-window",
    "hardened with Stripe's 24 h key window baked in",
    key_window_from_provider=False,
)


@pytest.mark.parametrize("provider", [PAYPAL, PAYPAL_WAIT], ids=lambda p: p.name)
def test_hardened_holds_on_paypal(provider: ProviderContract) -> None:
    result = run_gate(HARDENED, provider=provider)
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
