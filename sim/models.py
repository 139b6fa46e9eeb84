"""Indexed versions of the core's Postgres and Stripe models, for long simulations.

The core's models are written for clarity: a lookup scans every row, a transaction copies
the tables, a charge scans every idempotency key for expiry. That is O(n) per effect, fine
for a test and hopeless for a million requests. These subclasses keep the same semantics
(same constraints, same messages, all-or-nothing commits, same key expiry rule) with
indexes, so each effect is O(1). ``tests/sim/test_models.py`` runs random operation
sequences against both and compares every answer and the final state.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from core.domain import Payment, PaymentState, is_allowed
from core.effects import (
    Conflict,
    OrderMarkPaid,
    PaymentInsert,
    PaymentTransition,
    Unavailable,
    Write,
)
from core.history import History
from core.models.clock import ModelClock
from core.models.postgres_model import PostgresModel, TransitionRecord
from core.models.stripe_model import StripeModel
from core.runtime.world import World, schema_for
from core.variants import Variant

_FINAL = (PaymentState.COMPLETED, PaymentState.FAILED)

K = TypeVar("K")


def _ids(index: dict[K, str | list[str]], key: K) -> Sequence[str]:
    """The row ids under ``key``. Almost every key has one row, held as the bare id: a list
    per key would cost about 100 bytes a payment in a million-request run."""
    found = index.get(key)
    if found is None:
        return ()
    return (found,) if isinstance(found, str) else found


def _add(index: dict[K, str | list[str]], key: K, pid: str) -> None:
    found = index.get(key)
    if found is None:
        index[key] = pid
    elif isinstance(found, str):
        index[key] = [found, pid]
    else:
        found.append(pid)


@dataclass(slots=True)
class IndexedPostgresModel(PostgresModel):
    """``PostgresModel`` with indexes on the key, the order and the unresolved rows."""

    _by_key: dict[str, str | list[str]] = field(default_factory=dict)
    _by_order: dict[tuple[str, str], str | list[str]] = field(default_factory=dict)
    _open: dict[str, None] = field(default_factory=dict)
    _seq: dict[str, int] = field(default_factory=dict)
    transitions_applied: int = 0
    """How many transitions were applied. Only illegal ones are kept in ``transitions`` (all
    the checker's T looks at): a record per transition is 150 bytes a payment."""

    def find(self, merchant: str | None, key: str) -> Payment | None:
        self._check()
        best: Payment | None = None
        for pid in _ids(self._by_key, key):
            p = self.payments[pid]
            if merchant is not None and p.merchant != merchant:
                continue
            if best is None or (p.created_ms, p.id) < (best.created_ms, best.id):
                best = p
        return best

    def to_reconcile(self, stale_before_ms: int, limit: int) -> tuple[Payment, ...]:
        self._check()
        due = [
            p
            for p in (self.payments[i] for i in self._open)
            if p.state is PaymentState.RECONCILE
            or (
                p.state in (PaymentState.PENDING, PaymentState.PROCESSING)
                and p.created_ms < stale_before_ms
            )
        ]
        due.sort(key=lambda p: (p.created_ms, p.id))
        return tuple(due[:limit])

    def execute(self, writes: Iterable[Write], *, autocommit: bool = False) -> list[Payment]:
        self._check()
        staged: dict[str, Payment] = {}
        inserted: list[str] = []
        orders: dict[tuple[str, str], str] = {}
        applied: list[TransitionRecord] = []
        touched: list[Payment] = []
        for write in writes:
            if isinstance(write, PaymentInsert):
                self._insert_staged(staged, inserted, write.payment)
            elif isinstance(write, PaymentTransition):
                row, record = self._transition_staged(staged, inserted, write)
                applied.append(record)
                touched.append(row)
            elif isinstance(write, OrderMarkPaid):
                orders[(write.merchant, write.order)] = write.payment_id
            else:  # pragma: no cover - the Write union is closed
                raise TypeError(f"not a write: {write!r}")
        if self.failing_commits > 0:
            self.failing_commits -= 1
            raise Unavailable("postgres: commit failed (connection lost); nothing applied")
        for pid in inserted:
            row = staged[pid]
            _add(self._by_key, row.idempotency_key, pid)
            _add(self._by_order, (row.merchant, row.order), pid)
            self._seq[pid] = len(self._seq)
        for pid, row in staged.items():
            self.payments[pid] = row
            if row.state in _FINAL:
                self._open.pop(pid, None)
            else:
                self._open[pid] = None
        self.orders.update(orders)
        self.transitions_applied += len(applied)
        self.transitions.extend(t for t in applied if not t.legal)
        return touched

    def _current(self, staged: dict[str, Payment], pid: str) -> Payment | None:
        row = staged.get(pid)
        return row if row is not None else self.payments.get(pid)

    def _same_order(
        self, staged: dict[str, Payment], inserted: list[str], merchant: str, order: str
    ) -> list[Payment]:
        ids = list(_ids(self._by_order, (merchant, order)))
        ids += [i for i in inserted if (staged[i].merchant, staged[i].order) == (merchant, order)]
        return [r for r in (self._current(staged, i) for i in ids) if r is not None]

    def _insert_staged(self, staged: dict[str, Payment], inserted: list[str], row: Payment) -> None:
        if self._current(staged, row.id) is not None:
            raise Conflict(
                f"duplicate key value violates unique constraint payments_pkey ({row.id})"
            )
        # The same rows the core model would meet, in the same (insertion) order, so the
        # first constraint violated, and hence the message, is the same.
        ids = set(_ids(self._by_key, row.idempotency_key))
        ids.update(_ids(self._by_order, (row.merchant, row.order)))
        ordered = sorted(ids, key=self._seq.__getitem__) + inserted
        for pid in ordered:
            other = self._current(staged, pid)
            if other is None:
                continue
            same_key = other.idempotency_key == row.idempotency_key
            if same_key and (
                self.key_scope == "global"
                or (self.key_scope == "merchant" and other.merchant == row.merchant)
            ):
                raise Conflict("duplicate key value violates unique constraint payments_key")
            if (
                self.one_live_per_order
                and other.live
                and row.live
                and (other.merchant, other.order) == (row.merchant, row.order)
            ):
                raise Conflict("duplicate key value violates unique constraint payments_live_order")
        staged[row.id] = row
        inserted.append(row.id)

    def _transition_staged(
        self, staged: dict[str, Payment], inserted: list[str], write: PaymentTransition
    ) -> tuple[Payment, TransitionRecord]:
        row = self._current(staged, write.payment_id)
        if row is None:
            raise Conflict(f"payment {write.payment_id} does not exist")
        if write.expected is not None and row.state is not write.expected:
            raise Conflict(
                f"payment {row.id} is {row.state}, not {write.expected}: compare-and-set refused"
            )
        new = row.evolve(
            write.target,
            write.charge_id if write.charge_id is not None else row.charge_id,
            write.error if write.error is not None else row.error,
        )
        if self.one_live_per_order and new.live and not row.live:
            for other in self._same_order(staged, inserted, row.merchant, row.order):
                if other.id != row.id and other.live:
                    raise Conflict(
                        "duplicate key value violates unique constraint payments_live_order"
                    )
        staged[row.id] = new
        record = TransitionRecord(
            self.clock(), row.id, row.state, write.target, is_allowed(row.state, write.target)
        )
        return new, record


@dataclass(slots=True)
class IndexedStripeModel(StripeModel):
    """``StripeModel`` whose key expiry walks keys in creation order instead of all keys."""

    _created: deque[tuple[int, str]] = field(default_factory=deque)
    _deferred: list[tuple[int, str]] = field(default_factory=list)

    def begin(self, key, amount, currency, source, metadata):  # type: ignore[no-untyped-def]
        before = self._keys.get(key) if key is not None else None
        started = StripeModel.begin(self, key, amount, currency, source, metadata)
        entry = self._keys.get(key) if key is not None else None
        if entry is not None and entry is not before:  # a new entry (maybe after expiry)
            self._created.append((entry.created_ms, key))
        return started

    def _forget_expired(self) -> None:
        horizon = self.clock() - self.key_window_ms
        keys = self._keys
        if self._deferred:
            still = []
            for created, key in self._deferred:
                entry = keys.get(key)
                if entry is None or entry.created_ms != created:
                    continue
                if entry.executing:
                    still.append((created, key))
                else:
                    del keys[key]
            self._deferred = still
        queue = self._created
        while queue and queue[0][0] <= horizon:
            created, key = queue.popleft()
            entry = keys.get(key)
            if entry is None or entry.created_ms != created:
                continue
            if entry.executing:
                self._deferred.append((created, key))
            else:
                del keys[key]


def indexed_world(variant: Variant, clock: ModelClock, history: History) -> World:
    """A core ``World`` whose Postgres and Stripe are the indexed models."""
    world = World(variant, clock, history, record_effects=False)
    scope, one_live = schema_for(variant)
    world.postgres = IndexedPostgresModel(clock, key_scope=scope, one_live_per_order=one_live)
    stripe = IndexedStripeModel(clock)
    stripe.on_charge.extend(world.stripe.on_charge)
    world.stripe = stripe
    return world
