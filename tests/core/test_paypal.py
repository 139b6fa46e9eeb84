"""The PayPal model's documented semantics, its differences from Stripe's, and the situation
where a design tuned to Stripe's contract breaks on PayPal's (``core.providers``)."""

from __future__ import annotations

import pytest

from core.effects import OutcomeUnknown
from core.models.clock import ModelClock
from core.models.paypal_model import PayPalModel
from core.models.stripe_model import StripeModel
from core.providers import PAYPAL, PROVIDERS, STRIPE, provider_named
from core.variants import HARDENED, HOUR_MS, SEED
from verify.situations import SITUATIONS, Situation, key_forgotten_then_retry, run_one

MD = {"payment_id": "pay_1"}


def models() -> tuple[ModelClock, StripeModel, PayPalModel]:
    clock = ModelClock()
    return clock, StripeModel(clock), PayPalModel(clock)


def test_a_repeat_answers_the_latest_status_not_the_first_answer() -> None:
    _clock, _stripe, paypal = models()
    first = paypal.charge("k", 1000, "usd", "tok_visa", MD)
    assert first.succeeded and paypal.charge("k", 1000, "usd", "tok_visa", MD).replayed
    assert first.charge_id is not None
    paypal.refund(first.charge_id)
    again = paypal.charge("k", 1000, "usd", "tok_visa", MD)
    assert (again.charge_id, again.succeeded, again.decline_code) == (
        first.charge_id,
        False,
        "refunded",
    )


def test_a_repeat_with_another_payload_is_not_compared() -> None:
    _clock, stripe, paypal = models()
    paypal.charge("k", 1000, "usd", "tok_visa", MD)
    other = paypal.charge("k", 2999, "usd", "tok_visa", MD)
    assert other.replayed and other.amount == 1000 and len(paypal.charges) == 1
    stripe.charge("k", 1000, "usd", "tok_visa", MD)
    with pytest.raises(Exception, match="same parameters"):
        stripe.charge("k", 2999, "usd", "tok_visa", MD)


def test_a_simultaneous_second_request_fails_or_waits() -> None:
    clock = ModelClock()
    failing, waiting = PayPalModel(clock), PayPalModel(clock, simultaneous="wait")
    for model in (failing, waiting):
        ticket = model.begin("k", 1000, "usd", "tok_visa", MD)
        assert not isinstance(ticket, type(None))
    with pytest.raises(OutcomeUnknown, match="second simultaneous"):
        failing.begin("k", 1000, "usd", "tok_visa", MD)
    follower = waiting.begin("k", 1000, "usd", "tok_visa", MD)
    first = waiting._keys["k"]
    assert first.executing
    with pytest.raises(OutcomeUnknown):  # the first has not finished: the wait times out
        waiting.finish(follower)  # type: ignore[arg-type]


def test_keys_are_kept_six_hours_and_no_key_duplicates() -> None:
    clock, stripe, paypal = models()
    paypal.charge("k", 1000, "usd", "tok_visa", MD)
    stripe.charge("k", 1000, "usd", "tok_visa", MD)
    clock.advance(7 * HOUR_MS)
    assert not paypal.charge("k", 1000, "usd", "tok_visa", MD).replayed  # forgotten: charged
    assert stripe.charge("k", 1000, "usd", "tok_visa", MD).replayed  # Stripe keeps 24 h
    paypal.charge(None, 1000, "usd", "tok_visa", MD)
    paypal.charge(None, 1000, "usd", "tok_visa", MD)
    assert len(paypal.charges) == 4


def test_a_500_without_an_order_is_not_kept_and_the_search_lags() -> None:
    clock, stripe, paypal = models()
    for model in (stripe, paypal):
        with pytest.raises(OutcomeUnknown):
            model.charge("k5", 1000, "usd", "tok_500", MD)
    assert "k5" in stripe._keys and "k5" not in paypal._keys
    paypal.charge("k", 1000, "usd", "tok_visa", MD)
    assert paypal.find_by_metadata("payment_id", "pay_1") == []
    clock.advance(3 * HOUR_MS)
    assert len(paypal.find_by_metadata("payment_id", "pay_1")) == 1


@pytest.mark.parametrize(
    "source", ["tok_visa", "tok_chargeDeclined", "tok_chargeDeclinedExpiredCard"]
)
def test_differential_one_request_and_its_repeats_agree(source: str) -> None:
    """Where both contracts promise the same (one request, then exact repeats in the
    window), Stripe's and PayPal's models agree on everything the gateway reads."""
    clock, stripe, paypal = models()
    for _n in range(3):
        a = stripe.charge("k", 1000, "usd", source, MD)
        b = paypal.charge("k", 1000, "usd", source, MD)
        assert (a.succeeded, a.amount, a.currency, a.replayed) == (
            b.succeeded,
            b.amount,
            b.currency,
            b.replayed,
        )
        assert (a.decline_code is None) == (b.decline_code is None)
        clock.advance(HOUR_MS)
    assert len(stripe.charges) == len(paypal.charges) == 1


def test_contracts_are_named_and_documented() -> None:
    assert provider_named("paypal") is PAYPAL and set(PROVIDERS) == {
        "stripe",
        "paypal",
        "paypal-wait",
    }
    with pytest.raises(ValueError, match="known providers"):
        provider_named("adyen")
    assert STRIPE.key_window_ms == 4 * PAYPAL.key_window_ms


@pytest.mark.parametrize("provider", list(PROVIDERS.values()), ids=list(PROVIDERS))
@pytest.mark.parametrize("situation", SITUATIONS, ids=[s.name for s in SITUATIONS])
def test_every_situation_holds_for_hardened_on_every_provider(
    situation: Situation, provider
) -> None:  # type: ignore[no-untyped-def]
    verdict = run_one(situation, HARDENED, provider)
    assert verdict.ok, verdict.render()


STRIPE_TUNED = HARDENED.with_changes(
    "hardened-stripe-window",
    "hardened with Stripe's 24 h key window baked in",
    key_window_from_provider=False,
)
LATE = Situation("key-forgotten-then-retry", key_forgotten_then_retry, {})


def test_a_design_tuned_to_stripes_window_charges_twice_on_paypal() -> None:
    """The difference the contracts make: a retry 7 h after a lost reply re-asks PayPal with a
    key PayPal forgot after 6 h, so it captures again. Stripe (24 h) replays instead."""
    assert run_one(LATE, STRIPE_TUNED, STRIPE).ok
    broken = run_one(LATE, STRIPE_TUNED, PAYPAL)
    print(broken.render())
    assert {"E1", "E2"} <= broken.broken()
    for provider in PROVIDERS.values():
        assert run_one(LATE, HARDENED, provider).ok, provider.name


def test_seed_on_paypal_is_judged_too() -> None:
    for situation in SITUATIONS:
        run_one(situation, SEED, PAYPAL)  # runs to the end; the verdict table shows it
