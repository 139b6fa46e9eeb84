"""The Redis and Postgres models' documented semantics at their edges, for mutmut's kill suite
(``tests/core/test_models.py`` and the Postgres differential state the main promises): what a
command returns, when a key's time is up, which rows the reconciler is handed, and what a
transition keeps."""

from __future__ import annotations

import pytest

from core.domain import Payment, PaymentState
from core.effects import Conflict, OrderMarkPaid, PaymentInsert, PaymentTransition, Unavailable
from core.models.clock import ModelClock
from core.models.postgres_model import PostgresModel
from core.models.redis_model import RedisModel

S = PaymentState


def test_redis_ttl_counts_down_and_ends_with_the_key() -> None:
    clock = ModelClock()
    redis = RedisModel(clock)
    redis.set("lock", "t", px=100)
    redis.set("forever", "v")
    assert redis.ttl_ms("lock") == 100 and redis.ttl_ms("forever") is None
    clock.advance(40)
    assert redis.ttl_ms("lock") == 60 and redis.ttl_ms("absent") is None
    clock.advance(60)
    assert redis.ttl_ms("lock") is None and redis.keys() == ["forever"]


def test_redis_set_overwrites_unless_nx_and_refuses_a_non_positive_expiry() -> None:
    redis = RedisModel(ModelClock())
    assert redis.set("k", 1) and redis.set("k", 2) and redis.get("k") == 2
    assert not redis.set("k", 3, nx=True) and redis.get("k") == 2
    for px in (0, -5):
        with pytest.raises(ValueError, match=r"^redis: invalid expire time in 'set' command$"):
            redis.set("k", 4, px=px)
    assert redis.get("k") == 2
    assert redis.set("short", 1, px=1) and redis.ttl_ms("short") == 1


def test_redis_delete_says_whether_a_key_was_there() -> None:
    redis = RedisModel(ModelClock())
    redis.set("k", 1)
    assert redis.delete("k") is True
    assert redis.delete("k") is False and redis.get("k") is None
    assert redis.compare_and_delete("absent", "t") is False


def test_redis_compare_and_delete_does_not_release_an_expired_lock() -> None:
    clock = ModelClock()
    redis = RedisModel(clock)
    redis.set("lock", "t1", px=10, nx=True)
    clock.advance(10)
    assert redis.compare_and_delete("lock", "t1") is False
    assert redis.set("lock", "t2", px=10, nx=True)


def test_redis_down_refuses_every_command_and_data_loss_counts_keys() -> None:
    redis = RedisModel(ModelClock())
    redis.set("a", 1)
    redis.set("b", 2)
    assert redis.lose_data() == 2 and redis.lose_data() == 0
    redis.available = False
    for command in (
        lambda: redis.get("a"),
        lambda: redis.set("a", 1),
        lambda: redis.delete("a"),
        lambda: redis.compare_and_delete("a", 1),
    ):
        with pytest.raises(Unavailable, match=r"^redis: connection refused$"):
            command()


def row(pid: str, key: str = "k", *, order: str = "o", merchant: str = "m",
        state: PaymentState = S.PENDING, created_ms: int = 0) -> Payment:  # fmt: skip
    return Payment(pid, merchant, order, key, 1999, "usd", "tok_visa", "fp", f"pk-{key}",
                   state, created_ms)  # fmt: skip


def test_postgres_hands_the_reconciler_due_rows_oldest_first() -> None:
    clock = ModelClock()
    pg = PostgresModel(clock)
    pg.execute([PaymentInsert(row("p-new", "k1", order="o1", created_ms=50))])
    pg.execute([PaymentInsert(row("p-old", "k2", order="o2", created_ms=10))])
    pg.execute([PaymentInsert(row("p-rec", "k3", order="o3", state=S.RECONCILE, created_ms=90))])
    pg.execute([PaymentInsert(row("p-proc", "k4", order="o4", state=S.PROCESSING, created_ms=20))])
    pg.execute([PaymentInsert(row("p-done", "k5", order="o5", state=S.COMPLETED))])
    pg.execute([PaymentInsert(row("p-lost", "k6", order="o6", state=S.FAILED))])
    due = [p.id for p in pg.to_reconcile(stale_before_ms=50, limit=10)]
    assert due == ["p-old", "p-proc", "p-rec"]  # created before 50 (strictly), or RECONCILE
    assert [p.id for p in pg.to_reconcile(51, 10)] == ["p-old", "p-proc", "p-new", "p-rec"]
    assert [p.id for p in pg.to_reconcile(51, 2)] == ["p-old", "p-proc"]
    pg.execute([PaymentTransition("p-old", S.PENDING, S.FAILED)])
    assert [p.id for p in pg.to_reconcile(51, 10)] == ["p-proc", "p-new", "p-rec"]


def test_postgres_finds_the_oldest_row_of_a_key_for_its_merchant() -> None:
    pg = PostgresModel(ModelClock(), key_scope="none", one_live_per_order=False)
    pg.execute([PaymentInsert(row("p2", created_ms=5))])
    pg.execute([PaymentInsert(row("p1", created_ms=5))])
    pg.execute([PaymentInsert(row("p0", merchant="other", created_ms=1))])
    pg.execute([PaymentInsert(row("p3", created_ms=9))])
    found = pg.find("m", "k")
    assert found is not None and found.id == "p1"  # oldest; ties by id
    anyone = pg.find(None, "k")
    assert anyone is not None and anyone.id == "p0"
    assert pg.find("m", "other-key") is None and pg.get("p3") is not None
    assert pg.get("missing") is None


def test_postgres_transitions_keep_charge_and_error_unless_given() -> None:
    clock = ModelClock()
    pg = PostgresModel(clock)
    pg.execute([PaymentInsert(row("p1"))])
    pg.execute([PaymentTransition("p1", S.PENDING, S.RECONCILE, charge_id="ch_1")])
    clock.advance(7)
    touched = pg.execute([PaymentTransition("p1", S.RECONCILE, S.FAILED, error="not_charged")])
    assert [(t.state, t.charge_id, t.error) for t in touched] == [(S.FAILED, "ch_1", "not_charged")]
    assert pg.payments["p1"] == touched[0]
    last = pg.transitions[-1]
    assert (last.at_ms, last.payment_id, last.source, last.target, last.legal) == (
        7,
        "p1",
        S.RECONCILE,
        S.FAILED,
        True,
    )
    assert pg.transitions_applied == 2
    with pytest.raises(Conflict, match=r"^payment nope does not exist$"):
        pg.execute([PaymentTransition("nope", None, S.FAILED)])
    with pytest.raises(Conflict, match=r"^payment p1 is FAILED, not PENDING: compare-and-set"):
        pg.execute([PaymentTransition("p1", S.PENDING, S.COMPLETED)])


def test_postgres_a_blind_transition_cannot_revive_a_second_live_payment() -> None:
    pg = PostgresModel(ModelClock())
    pg.execute([PaymentInsert(row("p1", "k1")), PaymentTransition("p1", S.PENDING, S.FAILED)])
    pg.execute([PaymentInsert(row("p2", "k2"))])
    with pytest.raises(Conflict, match="payments_live_order"):
        pg.execute([PaymentTransition("p1", None, S.COMPLETED)])
    assert pg.payments["p1"].state is S.FAILED
    other = PostgresModel(ModelClock(), one_live_per_order=False)
    other.execute([PaymentInsert(row("p1", "k1", state=S.FAILED)), PaymentInsert(row("p2", "k2"))])
    other.execute([PaymentTransition("p1", None, S.COMPLETED)])
    assert other.payments["p1"].state is S.COMPLETED


def test_postgres_constraint_messages_and_the_primary_key() -> None:
    pg = PostgresModel(ModelClock())
    pg.execute([PaymentInsert(row("p1"))])
    with pytest.raises(
        Conflict, match=r"^duplicate key value violates unique constraint payments_pkey \(p1\)$"
    ):
        pg.execute([PaymentInsert(row("p1", "k9", order="o9"))])
    with pytest.raises(
        Conflict, match=r"^duplicate key value violates unique constraint payments_key$"
    ):
        pg.execute([PaymentInsert(row("p2", order="o2"))])
    with pytest.raises(
        Conflict, match=r"^duplicate key value violates unique constraint payments_live_order$"
    ):
        pg.execute([PaymentInsert(row("p3", "k3"))])
    loose = PostgresModel(ModelClock(), key_scope="none", one_live_per_order=False)
    loose.execute([PaymentInsert(row("p1")), PaymentInsert(row("p2"))])
    assert set(loose.payments) == {"p1", "p2"}


def test_postgres_commits_orders_and_counts_only_illegal_transitions_when_asked() -> None:
    pg = PostgresModel(ModelClock(), keep_legal_transitions=False)
    pg.execute([PaymentInsert(row("p1")), OrderMarkPaid("m", "o", "p1")])
    assert pg.order_paid_by("m", "o") == "p1" and pg.order_paid_by("m", "o2") is None
    pg.execute([PaymentTransition("p1", S.PENDING, S.PROCESSING)])
    pg.execute([PaymentTransition("p1", None, S.PENDING)])  # blind and illegal
    assert [(t.source, t.target, t.legal) for t in pg.transitions] == [
        (S.PROCESSING, S.PENDING, False)
    ]
    assert pg.transitions_applied == 2
    pg.fail_next_commits(2)
    for _ in range(2):
        with pytest.raises(Unavailable, match="commit failed"):
            pg.execute([PaymentTransition("p1", None, S.FAILED)], autocommit=True)
    pg.execute([PaymentTransition("p1", None, S.FAILED)], autocommit=True)
    assert pg.payments["p1"].state is S.FAILED and pg.failing_commits == 0
    pg.available = False
    for read in (lambda: pg.get("p1"), lambda: pg.to_reconcile(0, 1), lambda: pg.execute([])):
        with pytest.raises(Unavailable, match=r"^postgres: connection refused$"):
            read()


def test_the_model_clock_moves_forward_or_stays_but_never_back() -> None:
    clock = ModelClock(now=5)
    clock.advance(0)
    assert clock() == 5
    clock.advance(3)
    assert clock() == clock.now == 8
    with pytest.raises(ValueError, match="cannot move the clock back by -1 ms"):
        clock.advance(-1)
    assert clock() == 8


def test_postgres_a_transaction_sees_its_own_inserts_of_other_orders_apart() -> None:
    pg = PostgresModel(ModelClock())
    pg.execute([PaymentInsert(row("p1", "k1", order="o1", state=S.FAILED))])
    pg.execute(
        [PaymentInsert(row("p2", "k2", order="o2")), PaymentTransition("p1", None, S.COMPLETED)]
    )
    assert pg.payments["p1"].state is S.COMPLETED
    with pytest.raises(Conflict, match="payments_live_order"):
        pg.execute([PaymentInsert(row("p3", "k3", order="o9", state=S.FAILED)),
                    PaymentInsert(row("p4", "k4", order="o9")),
                    PaymentTransition("p3", None, S.COMPLETED)])  # fmt: skip


def test_postgres_a_transition_without_an_error_keeps_the_rows_and_refuses_non_writes() -> None:
    pg = PostgresModel(ModelClock())
    pg.execute([PaymentInsert(row("p1", state=S.RECONCILE))])
    pg.execute([PaymentTransition("p1", S.RECONCILE, S.FAILED, error="not_charged")])
    pg.execute([PaymentTransition("p1", None, S.COMPLETED, charge_id="ch_1")])
    assert (pg.payments["p1"].error, pg.payments["p1"].charge_id) == ("not_charged", "ch_1")
    with pytest.raises(TypeError, match=r"^not a write: 'nonsense'$"):
        pg.execute(["nonsense"])  # type: ignore[list-item]
