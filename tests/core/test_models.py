"""The in-memory models keep the documented semantics of Redis, Postgres and Stripe."""

from __future__ import annotations

import pytest

from core.domain import Payment, PaymentState
from core.effects import (
    Conflict,
    IdempotencyMismatch,
    OrderMarkPaid,
    OutcomeUnknown,
    PaymentInsert,
    PaymentTransition,
    Unavailable,
)
from core.models.clock import ModelClock
from core.models.postgres_model import PostgresModel
from core.models.redis_model import RedisModel
from core.models.stripe_model import Metadata, StripeModel, Ticket
from core.variants import PROVIDER_KEY_WINDOW_MS


def test_redis_set_nx_px_expires_on_the_model_clock() -> None:
    clock = ModelClock()
    redis = RedisModel(clock)
    assert redis.set("lock", "t1", px=100, nx=True)
    assert not redis.set("lock", "t2", px=100, nx=True)
    clock.advance(99)
    assert redis.get("lock") == "t1"
    clock.advance(1)
    assert redis.get("lock") is None
    assert redis.set("lock", "t2", px=100, nx=True)


def test_redis_compare_and_delete_only_for_the_holder() -> None:
    redis = RedisModel(ModelClock())
    redis.set("lock", "t1", px=1000, nx=True)
    assert not redis.compare_and_delete("lock", "t2")
    assert redis.get("lock") == "t1"
    assert redis.compare_and_delete("lock", "t1")
    assert redis.get("lock") is None


def test_redis_data_loss_and_unavailability() -> None:
    redis = RedisModel(ModelClock())
    redis.set("a", 1)
    assert redis.lose_data() == 1
    assert redis.get("a") is None
    redis.available = False
    with pytest.raises(Unavailable):
        redis.get("a")


def row(pid: str, key: str = "k", order: str = "o", merchant: str = "m",
        state: PaymentState = PaymentState.PENDING) -> Payment:  # fmt: skip
    return Payment(pid, merchant, order, key, 1999, "usd", "tok_visa", "fp", f"{merchant}:{key}",
                   state, 0)  # fmt: skip


def test_postgres_unique_key_per_merchant_and_live_order() -> None:
    pg = PostgresModel(ModelClock())
    pg.execute([PaymentInsert(row("p1"))])
    with pytest.raises(Conflict, match="payments_key"):
        pg.execute([PaymentInsert(row("p2", order="o2"))])
    pg.execute([PaymentInsert(row("p3", merchant="other"))])  # other merchant, same key: fine
    with pytest.raises(Conflict, match="live_order"):
        pg.execute([PaymentInsert(row("p4", key="k2"))])  # same order, still live
    pg.execute([PaymentTransition("p1", PaymentState.PENDING, PaymentState.FAILED)])
    pg.execute([PaymentInsert(row("p5", key="k3"))])  # a failed payment frees the order


def test_postgres_global_key_scope_refuses_across_merchants() -> None:
    pg = PostgresModel(ModelClock(), key_scope="global")
    pg.execute([PaymentInsert(row("p1"))])
    with pytest.raises(Conflict):
        pg.execute([PaymentInsert(row("p2", merchant="other", order="o2"))])


def test_postgres_transaction_is_all_or_nothing() -> None:
    pg = PostgresModel(ModelClock())
    with pytest.raises(Conflict):
        pg.execute([PaymentInsert(row("p1")), PaymentInsert(row("p1", key="k2"))])
    assert pg.payments == {}
    pg.fail_next_commits(1)
    with pytest.raises(Unavailable):
        pg.execute([PaymentInsert(row("p1")), OrderMarkPaid("m", "o", "p1")])
    assert pg.payments == {} and pg.orders == {}
    pg.execute([PaymentInsert(row("p1")), OrderMarkPaid("m", "o", "p1")])
    assert set(pg.payments) == {"p1"} and pg.orders == {("m", "o"): "p1"}


def test_postgres_compare_and_set_and_blind_transitions() -> None:
    pg = PostgresModel(ModelClock())
    pg.execute([PaymentInsert(row("p1"))])
    with pytest.raises(Conflict, match="compare-and-set"):
        pg.execute([PaymentTransition("p1", PaymentState.PROCESSING, PaymentState.COMPLETED)])
    pg.execute([PaymentTransition("p1", PaymentState.PENDING, PaymentState.FAILED)])
    pg.execute([PaymentTransition("p1", None, PaymentState.COMPLETED)])  # blind: applied
    assert pg.payments["p1"].state is PaymentState.COMPLETED
    assert [t.legal for t in pg.transitions] == [True, False]


def test_postgres_unavailable() -> None:
    pg = PostgresModel(ModelClock(), available=False)
    with pytest.raises(Unavailable):
        pg.find("m", "k")


def charge(stripe: StripeModel, key: str | None, amount: int = 1999, source: str = "tok_visa"):  # type: ignore[no-untyped-def]
    return stripe.charge(key, amount, "usd", source, {"order": "o"})


def test_stripe_replays_the_first_result_for_a_key() -> None:
    stripe = StripeModel(ModelClock())
    first = charge(stripe, "k")
    again = charge(stripe, "k")
    assert first.succeeded and not first.replayed
    assert again.replayed and again.charge_id == first.charge_id
    assert len(stripe.charges) == 1


def test_stripe_other_parameters_are_an_idempotency_error() -> None:
    stripe = StripeModel(ModelClock())
    charge(stripe, "k")
    with pytest.raises(IdempotencyMismatch):
        charge(stripe, "k", amount=2999)
    assert len(stripe.charges) == 1


def test_stripe_409_while_the_first_request_executes() -> None:
    stripe = StripeModel(ModelClock())
    ticket = stripe.begin("k", 1999, "usd", "tok_visa", {"order": "o"})
    assert isinstance(ticket, Ticket)
    with pytest.raises(Conflict, match="in_use"):
        stripe.begin("k", 1999, "usd", "tok_visa", {"order": "o"})
    first = stripe.finish(ticket)
    assert charge(stripe, "k").charge_id == first.charge_id  # now a replay
    assert len(stripe.charges) == 1


def test_stripe_declines_are_saved_and_replayed() -> None:
    stripe = StripeModel(ModelClock())
    first = charge(stripe, "k", source="tok_chargeDeclined")
    again = charge(stripe, "k", source="tok_chargeDeclined")
    assert not first.succeeded and first.decline_code == "generic_decline"
    assert again.replayed and not again.succeeded and again.charge_id == first.charge_id
    assert again.decline_code == first.decline_code


def test_stripe_500_is_saved_429_is_not() -> None:
    stripe = StripeModel(ModelClock())
    with pytest.raises(OutcomeUnknown):
        charge(stripe, "k5", source="tok_500")
    with pytest.raises(OutcomeUnknown, match="replayed"):
        charge(stripe, "k5", source="tok_500")
    with pytest.raises(Unavailable, match="429"):
        charge(stripe, "k4", source="tok_429")
    assert "k4" not in stripe._keys and stripe.charges == {}


def test_stripe_forgets_keys_after_24_hours() -> None:
    clock = ModelClock()
    stripe = StripeModel(clock)
    charge(stripe, "k")
    clock.advance(PROVIDER_KEY_WINDOW_MS - 1)
    assert charge(stripe, "k").replayed
    clock.advance(1)
    assert not charge(stripe, "k").replayed
    assert len(stripe.charges) == 2


def test_stripe_sweeps_expired_keys_once_per_window() -> None:
    """Expired keys are forgotten when met and swept once per window, so a long run keeps
    only the window's keys."""
    clock = ModelClock()
    stripe = StripeModel(clock)
    for n in range(3):
        charge(stripe, f"k{n}")
    clock.advance(PROVIDER_KEY_WINDOW_MS // 2)
    charge(stripe, "half")
    assert len(stripe._keys) == 4
    clock.advance(PROVIDER_KEY_WINDOW_MS // 2 + 1)
    charge(stripe, "fresh")
    assert set(stripe._keys) == {"half", "fresh"}
    assert set(stripe.keys_in_window()) == {"half", "fresh"}


def test_stripe_minimum_amount() -> None:
    result = charge(StripeModel(ModelClock()), "k", amount=49)
    assert not result.succeeded and result.decline_code == "amount_too_small"


def test_stripe_charge_metadata_reads_like_a_dict_and_shares_its_names() -> None:
    stripe = StripeModel(ModelClock())
    first = stripe.charge("k1", 1000, "usd", "tok_visa", {"order": "o1", "merchant": "m1"})
    second = stripe.charge("k2", 1000, "usd", "tok_visa", {"merchant": "m2", "order": "o2"})
    one, two = (stripe.retrieve(r.charge_id or "") for r in (first, second))
    assert one is not None and two is not None
    assert dict(one.metadata) == {"merchant": "m1", "order": "o1"}
    assert one.metadata["order"] == "o1" and one.metadata.get("payment_id") is None
    assert "merchant" in two.metadata and len(two.metadata) == 2
    with pytest.raises(KeyError):
        one.metadata["payment_id"]
    assert one.metadata == {"order": "o1", "merchant": "m1"}  # equal to a dict of the same
    assert one.metadata._names is two.metadata._names  # one names tuple for both charges
    assert stripe.find_by_metadata("order", "o2") == [two]
    with pytest.raises(ValueError, match="repeat"):
        Metadata([("a", "1"), ("a", "2")])
