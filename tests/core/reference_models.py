"""The models' semantics written as plainly as possible: scans and copies, no indexes.

``core.models`` answers every effect in O(1) with indexes and staged writes; these are the
specification they must match, kept beside the differential tests that compare the two
(``tests/core/test_model_equivalence.py``). Slow on purpose: use them only as oracles.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from core.domain import Payment, PaymentState, is_allowed
from core.effects import (
    Conflict,
    OrderMarkPaid,
    PaymentInsert,
    PaymentTransition,
    Unavailable,
    Write,
)
from core.models.postgres_model import KeyScope, TransitionRecord
from core.models.stripe_model import StripeModel, _KeyEntry


@dataclass(slots=True)
class ReferencePostgresModel:
    """Payments and orders under unique constraints, with all-or-nothing transactions.

    ``key_scope`` chooses the unique index on the idempotency key: per merchant (hardened),
    across merchants (what the seed's unscoped lookup implies), or none. ``one_live_per_order``
    is the partial unique index on (merchant, order) where state <> 'FAILED'.
    """

    clock: Callable[[], int]
    key_scope: KeyScope = "merchant"
    one_live_per_order: bool = True
    available: bool = True
    failing_commits: int = 0
    payments: dict[str, Payment] = field(default_factory=dict)
    orders: dict[tuple[str, str], str] = field(default_factory=dict)
    transitions: list[TransitionRecord] = field(default_factory=list)

    # --- switches -------------------------------------------------------------------------

    def fail_next_commits(self, n: int = 1) -> None:
        """The next ``n`` commits fail cleanly: the client gets an error, nothing is applied."""
        self.failing_commits += n

    def _check(self) -> None:
        if not self.available:
            raise Unavailable("postgres: connection refused")

    # --- reads ----------------------------------------------------------------------------

    def find(self, merchant: str | None, key: str) -> Payment | None:
        self._check()
        matches = [
            p
            for p in self.payments.values()
            if p.idempotency_key == key and (merchant is None or p.merchant == merchant)
        ]
        return min(matches, key=lambda p: (p.created_ms, p.id)) if matches else None

    def get(self, payment_id: str) -> Payment | None:
        self._check()
        return self.payments.get(payment_id)

    def to_reconcile(self, stale_before_ms: int, limit: int) -> tuple[Payment, ...]:
        self._check()
        due = [
            p
            for p in self.payments.values()
            if p.state is PaymentState.RECONCILE
            or (
                p.state in (PaymentState.PENDING, PaymentState.PROCESSING)
                and p.created_ms < stale_before_ms
            )
        ]
        due.sort(key=lambda p: (p.created_ms, p.id))
        return tuple(due[:limit])

    # --- writes ---------------------------------------------------------------------------

    def execute(self, writes: Iterable[Write], *, autocommit: bool = False) -> list[Payment]:
        """Apply writes as one transaction; on any error nothing is applied.

        Returns the rows touched by transitions, in order. A single statement outside an
        explicit transaction (``autocommit``) commits too, so it can fail like any commit.
        """
        self._check()
        payments = dict(self.payments)
        orders = dict(self.orders)
        applied: list[TransitionRecord] = []
        touched: list[Payment] = []
        for write in writes:
            if isinstance(write, PaymentInsert):
                self._insert(payments, write.payment)
            elif isinstance(write, PaymentTransition):
                row, record = self._transition(payments, write)
                applied.append(record)
                touched.append(row)
            elif isinstance(write, OrderMarkPaid):
                orders[(write.merchant, write.order)] = write.payment_id
            else:  # pragma: no cover - the Write union is closed
                raise TypeError(f"not a write: {write!r}")
        if self.failing_commits > 0:
            self.failing_commits -= 1
            raise Unavailable("postgres: commit failed (connection lost); nothing applied")
        self.payments = payments
        self.orders = orders
        self.transitions.extend(applied)
        return touched

    def _insert(self, payments: dict[str, Payment], row: Payment) -> None:
        if row.id in payments:
            raise Conflict(
                f"duplicate key value violates unique constraint payments_pkey ({row.id})"
            )
        for other in payments.values():
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
        payments[row.id] = row

    def _transition(
        self, payments: dict[str, Payment], write: PaymentTransition
    ) -> tuple[Payment, TransitionRecord]:
        row = payments.get(write.payment_id)
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
            for other in payments.values():
                if (
                    other.id != row.id
                    and other.live
                    and (other.merchant, other.order)
                    == (
                        row.merchant,
                        row.order,
                    )
                ):
                    raise Conflict(
                        "duplicate key value violates unique constraint payments_live_order"
                    )
        payments[row.id] = new
        record = TransitionRecord(
            self.clock(), row.id, row.state, write.target, is_allowed(row.state, write.target)
        )
        return new, record

    def order_paid_by(self, merchant: str, order: str) -> str | None:
        return self.orders.get((merchant, order))


class ReferenceStripeModel(StripeModel):
    """``StripeModel`` whose key expiry scans every key, as the documentation states it."""

    __slots__ = ()

    def _entry(self, key: str) -> _KeyEntry | None:
        self._sweep(self.clock() - self.key_window_ms)
        return self._keys.get(key)
