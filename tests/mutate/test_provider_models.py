"""The provider models' documented semantics at their edges, for mutmut's kill suite.

``tests/core/test_models.py`` and ``tests/core/test_paypal.py`` state the main promises; these
pin the rest of what a caller can observe: keys forgotten when met between two sweeps and kept
when fresh at a sweep, charge ids in creation order, the minimum amount's boundary, every
decline's code, and the error texts that reach a client (a 503's message, the seed's cached
502) or a trace.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.effects import ChargeResult, Conflict, IdempotencyMismatch, OutcomeUnknown, Unavailable
from core.models.clock import ModelClock
from core.models.paypal_model import PROCESSOR_CODES, PayPalModel, capture_result
from core.models.stripe_model import (
    DECLINING_SOURCES,
    Metadata,
    StripeModel,
    Ticket,
    charge_result,
)
from core.variants import HOUR_MS

Model = StripeModel | PayPalModel
MD = {"payment_id": "pay_1"}
MODELS: dict[str, Callable[[ModelClock], Model]] = {
    "stripe": lambda clock: StripeModel(clock),
    "paypal": lambda clock: PayPalModel(clock),
}
EACH = pytest.mark.parametrize("make", list(MODELS.values()), ids=list(MODELS))


def pay(
    model: Model, key: str | None, source: str = "tok_visa", amount: int = 1000
) -> ChargeResult:
    return model.charge(key, amount, "usd", source, MD)


@EACH
def test_a_key_expired_between_sweeps_is_forgotten_when_met(
    make: Callable[[ModelClock], Model],
) -> None:
    clock = ModelClock()
    model = make(clock)
    window = model.key_window_ms
    pay(model, "a")  # t=0: the first sweep; the next is one window later
    clock.advance(window // 2)
    first = pay(model, "k")
    clock.advance(window // 2)
    pay(model, "b")  # the second sweep: "k" is half a window old and stays
    assert pay(model, "k").replayed, "a fresh key is kept by a sweep"
    clock.advance(window // 2)  # "k" is exactly one window old; no sweep is due
    again = pay(model, "k")
    assert not again.replayed and again.charge_id != first.charge_id


@EACH
def test_charge_ids_follow_creation_order(make: Callable[[ModelClock], Model]) -> None:
    model = make(ModelClock())
    ids = [pay(model, f"k{n}").charge_id for n in range(3)]
    prefix = "ch_" if isinstance(model, StripeModel) else "CAP"
    assert ids == [f"{prefix}{n:08d}" for n in (1, 2, 3)]
    assert list(model.charges) == ids


@EACH
def test_an_unreachable_provider_says_connection_refused(
    make: Callable[[ModelClock], Model],
) -> None:
    model = make(ModelClock())
    name = "stripe" if isinstance(model, StripeModel) else "paypal"
    model.available = False
    calls: list[Callable[[], object]] = [
        lambda: pay(model, "k"),
        lambda: model.retrieve("x"),
        lambda: model.find_by_metadata("payment_id", "pay_1"),
    ]
    for call in calls:
        with pytest.raises(Unavailable) as info:
            call()
        assert str(info.value) == f"{name}: connection refused"


def test_stripe_error_texts() -> None:
    stripe = StripeModel(ModelClock())
    with pytest.raises(OutcomeUnknown) as first:
        pay(stripe, "k5", "tok_500")
    with pytest.raises(OutcomeUnknown) as again:
        pay(stripe, "k5", "tok_500")
    assert str(first.value) == "stripe: 500 api_error (saved for this key)"
    assert str(again.value) == "stripe: 500 api_error (replayed)"
    with pytest.raises(Unavailable) as limited:
        pay(stripe, "k4", "tok_429")
    assert str(limited.value) == "stripe: 429 rate_limit (not saved; safe to retry)"
    ticket = stripe.begin("kl", 1000, "usd", "tok_visa", MD)
    assert isinstance(ticket, Ticket)
    with pytest.raises(OutcomeUnknown) as lost:
        stripe.finish(ticket, applied=False)
    assert str(lost.value) == "stripe: request lost before it executed"
    assert not pay(stripe, "kl").replayed, "a request lost before it executed keeps no key"
    running = stripe.begin("kr", 1000, "usd", "tok_visa", MD)
    assert isinstance(running, Ticket)
    with pytest.raises(Conflict) as busy:
        pay(stripe, "kr")
    assert str(busy.value) == "idempotency_key_in_use: a request with this key is in flight"


def test_paypal_error_texts() -> None:
    paypal = PayPalModel(ModelClock())
    with pytest.raises(OutcomeUnknown) as server:
        pay(paypal, "k5", "tok_500")
    assert str(server.value) == "paypal: 500 INTERNAL_SERVER_ERROR (no order created)"
    with pytest.raises(Unavailable) as limited:
        pay(paypal, "k4", "tok_429")
    assert str(limited.value) == "paypal: 429 RATE_LIMIT_REACHED (nothing executed)"
    assert "k4" not in paypal._keys
    ticket = paypal.begin("kl", 1000, "usd", "tok_visa", MD)
    assert isinstance(ticket, Ticket)
    with pytest.raises(OutcomeUnknown) as simultaneous:
        paypal.begin("kl", 1000, "usd", "tok_visa", MD)
    assert str(simultaneous.value) == (
        "paypal: the second simultaneous request with this PayPal-Request-Id failed"
    )
    with pytest.raises(OutcomeUnknown) as lost:
        paypal.finish(ticket, applied=False)
    assert str(lost.value) == "paypal: request lost before it executed"
    assert "kl" not in paypal._keys and paypal.charges == {}


def test_paypal_waiting_follower_reads_the_first_requests_latest_status() -> None:
    paypal = PayPalModel(ModelClock(), simultaneous="wait")
    first = paypal.begin("k", 1000, "usd", "tok_visa", MD)
    follower = paypal.begin("k", 2999, "eur", "tok_visa", MD)
    assert isinstance(first, Ticket) and isinstance(follower, Ticket) and follower.follows
    with pytest.raises(OutcomeUnknown) as early:
        paypal.finish(follower)
    assert str(early.value) == "paypal: timed out waiting for the first request"
    done = paypal.finish(first)
    read = paypal.finish(follower)
    assert (read.charge_id, read.amount, read.currency, read.replayed) == (
        done.charge_id,
        1000,
        "usd",
        True,
    )
    with pytest.raises(OutcomeUnknown):
        paypal.finish(follower, applied=False)


def test_paypal_refunds_only_a_completed_capture() -> None:
    paypal = PayPalModel(ModelClock())
    declined = pay(paypal, "k", "tok_chargeDeclined")
    with pytest.raises(Conflict) as info:
        paypal.refund(declined.charge_id or "")
    assert str(info.value) == "paypal: only a completed capture can be refunded"
    assert paypal.charges[declined.charge_id or ""].status == "failed"


@pytest.mark.parametrize("source", sorted(DECLINING_SOURCES))
def test_every_declining_card_is_declined_with_its_code(source: str) -> None:
    clock = ModelClock()
    stripe, paypal = StripeModel(clock), PayPalModel(clock)
    reason = DECLINING_SOURCES[source]
    for model, code in ((stripe, reason), (paypal, PROCESSOR_CODES[reason])):
        result = pay(model, "k", source)
        assert (result.succeeded, result.decline_code, result.amount) == (False, code, 1000)
        charge = model.charges[result.charge_id or ""]
        assert charge.status == "failed" and charge.source == source
    stripe_charge = stripe.charges[pay(stripe, "k", source).charge_id or ""]
    assert charge_result(stripe_charge).decline_code == "card_declined"
    assert (
        capture_result(paypal.charges[pay(paypal, "k", source).charge_id or ""]).replayed is False
    )


def test_a_capture_reads_as_the_gateway_reads_it() -> None:
    paypal = PayPalModel(ModelClock())
    paid = pay(paypal, "k")
    capture = paypal.charges[paid.charge_id or ""]
    assert capture_result(capture) == ChargeResult(capture.id, True, 1000, "usd", None, False)
    assert capture_result(capture, replayed=True).replayed
    stripe = StripeModel(ModelClock())
    charge = stripe.charges[pay(stripe, "k").charge_id or ""]
    assert charge_result(charge) == ChargeResult(charge.id, True, 1000, "usd", None, False)
    assert charge_result(charge, replayed=True).replayed


@pytest.mark.parametrize(
    ("currency", "minimum"), [("usd", 50), ("dkk", 250), ("jpy", 50), ("xof", 1)]
)
def test_stripe_minimum_amount_boundary(currency: str, minimum: int) -> None:
    stripe = StripeModel(ModelClock())
    ok = stripe.charge("ok", minimum, currency, "tok_visa", MD)
    assert ok.succeeded and ok.amount == minimum and ok.currency == currency
    if minimum > 1:
        small = stripe.charge("small", minimum - 1, currency, "tok_visa", MD)
        assert small == ChargeResult(None, False, minimum - 1, currency, "amount_too_small")
        again = stripe.charge("small", minimum - 1, currency, "tok_visa", MD)
        assert again.replayed and again.decline_code == "amount_too_small"
        assert again.succeeded is False
        assert (again.charge_id, again.amount, again.currency) == (None, minimum - 1, currency)
    assert len(stripe.charges) == 1


def test_stripe_lookups_find_what_was_charged() -> None:
    clock = ModelClock()
    stripe = StripeModel(clock)
    first = pay(stripe, "k1")
    clock.advance(5)
    second = stripe.charge("k2", 2000, "usd", "tok_visa", MD)
    found = stripe.find_by_metadata("payment_id", "pay_1")
    assert [c.id for c in found] == [first.charge_id, second.charge_id]
    assert found[1].created_ms == 5 and found[1].idempotency_key == "k2"
    assert stripe.find_by_metadata("payment_id", "pay_2") == []
    assert stripe.retrieve("ch_missing") is None
    assert stripe.retrieve(first.charge_id or "") is found[0]


def test_paypal_search_shows_a_capture_exactly_at_its_lag() -> None:
    clock = ModelClock()
    paypal = PayPalModel(clock)
    pay(paypal, "k")
    clock.advance(paypal.search_lag_ms - 1)
    assert paypal.find_by_metadata("payment_id", "pay_1") == []
    clock.advance(1)
    assert len(paypal.find_by_metadata("payment_id", "pay_1")) == 1
    assert paypal.search_lag_ms == 3 * HOUR_MS and paypal.key_window_ms == 6 * HOUR_MS
    (capture,) = paypal.charges.values()
    assert paypal.retrieve(capture.id) is capture and paypal.retrieve("CAP-missing") is None


def test_metadata_misses_raise_the_missing_name() -> None:
    metadata = Metadata([("order", "o1")])
    with pytest.raises(KeyError) as info:
        metadata["payment_id"]
    assert info.value.args == ("payment_id",)
    assert metadata.get("payment_id", "none") == "none" and metadata.get("order") == "o1"
    assert repr(metadata) == "Metadata({'order': 'o1'})"


def test_stripe_refuses_a_key_reused_with_any_other_parameter() -> None:
    stripe = StripeModel(ModelClock())
    stripe.charge("k", 1000, "usd", "tok_visa", MD)
    others = [
        (2000, "usd", "tok_visa", MD),
        (1000, "eur", "tok_visa", MD),
        (1000, "usd", "tok_mastercard", MD),
        (1000, "usd", "tok_visa", {"payment_id": "pay_2"}),
    ]
    for amount, currency, source, metadata in others:
        with pytest.raises(IdempotencyMismatch, match="same parameters"):
            stripe.charge("k", amount, currency, source, metadata)
    assert stripe.charge("k", 1000, "usd", "tok_visa", MD).replayed and len(stripe.charges) == 1


@EACH
def test_a_sweep_keeps_a_key_still_executing_and_forgets_finished_expired_ones(
    make: Callable[[ModelClock], Model],
) -> None:
    clock = ModelClock()
    model = make(clock)
    pay(model, "done")  # t=0: the first sweep
    running = model.begin("slow", 1000, "usd", "tok_visa", MD)
    assert isinstance(running, Ticket)
    clock.advance(model.key_window_ms + 1)
    pay(model, "fresh")  # a sweep: "done" is forgotten, "slow" still executes
    assert set(model._keys) == {"slow", "fresh"}
    with pytest.raises((Conflict, OutcomeUnknown)):  # 409 / PayPal's failed second request
        model.begin("slow", 1000, "usd", "tok_visa", MD)
    assert len(model.charges) == 2


def test_metadata_first_seen_names_are_kept_and_shared() -> None:
    """Names never seen before in this process (a forked worker inherits the cache of the
    names it has seen, so the test makes its own)."""
    names = (f"name-{id(object())}", "second")
    first = Metadata([(names[0], "1"), (names[1], "2")])
    second = Metadata([(names[0], "3"), (names[1], "4")])
    assert dict(first) == {names[0]: "1", "second": "2"} and second[names[0]] == "3"
    assert first._names is second._names == names
    others = (f"other-{id(object())}",)
    third = Metadata([(others[0], "5")])
    assert dict(third) == {others[0]: "5"} and third._names == others


@EACH
def test_a_sweep_forgets_keys_exactly_one_window_old_and_no_others(
    make: Callable[[ModelClock], Model],
) -> None:
    """Once per window, at the first request after it is due; between sweeps an expired key
    lingers until it is met (memory stays bounded by about two windows of keys)."""
    clock = ModelClock()
    model = make(clock)
    window = model.key_window_ms
    pay(model, "a")  # t=0: a sweep; the next is due at one window
    clock.advance(1)
    pay(model, "b")
    clock.advance(window - 1)
    pay(model, "c")  # t=window: the sweep forgets "a" (exactly one window old), keeps "b"
    assert set(model._keys) == {"b", "c"}
    clock.advance(2)
    pay(model, "d")  # "b" expired, but the next sweep is not due: it lingers
    assert set(model._keys) == {"b", "c", "d"}


def test_stripe_keys_in_window_leave_out_a_key_exactly_one_window_old() -> None:
    clock = ModelClock()
    stripe = StripeModel(clock)
    pay(stripe, "a")
    clock.advance(1)
    pay(stripe, "b")
    clock.advance(stripe.key_window_ms)  # "b" is exactly one window old; "a" one ms more
    assert stripe.keys_in_window() == {}
