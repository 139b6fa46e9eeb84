"""A model of the gateway's Postgres tables with the guarantees the design leans on.

Sources: postgresql.org/docs/current/ddl-constraints.html (a unique index refuses a second
row, partial unique indexes ``WHERE state <> 'FAILED'``), tutorial-transactions.html (a
transaction commits all of its statements or none), and the behaviour of a failed COMMIT
(the client sees an error and nothing is applied; we model the clean case and leave the
ambiguous one to 'unknown outcome' at the driver).

Every effect is O(1): indexes on the key, the order and the unresolved rows, and a
transaction stages only the rows it touches. ``tests/core/reference_models.py`` holds the
same semantics written as plain scans and copies; a differential test keeps the two equal
(same answers, same constraint messages, same final tables).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from core.domain import Payment, PaymentState, is_allowed
from core.effects import (
    Conflict,
    OrderMarkPaid,
    PaymentInsert,
    PaymentTransition,
    Unavailable,
    Write,
)
from core.grouped import Grouped

KeyScope = Literal["merchant", "global", "none"]


@dataclass(frozen=True, slots=True)
class TransitionRecord:
    """One applied state change, legal or not (a blind UPDATE can make an illegal one)."""

    at_ms: int
    payment_id: str
    source: PaymentState
    target: PaymentState
    legal: bool


_FINAL = (PaymentState.COMPLETED, PaymentState.FAILED)


@dataclass(slots=True)
class PostgresModel:
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
    keep_legal_transitions: bool = True
    """False keeps only illegal transitions in ``transitions`` (all the checker's T looks at):
    a long simulation cannot afford a record per transition."""
    payments: dict[str, Payment] = field(default_factory=dict)
    orders: dict[tuple[str, str], str] = field(default_factory=dict)
    transitions: list[TransitionRecord] = field(default_factory=list)
    transitions_applied: int = 0
    _by_key: Grouped[str] = field(default_factory=Grouped)
    """Row ids by idempotency key, whatever the merchant: readers check the merchant."""
    _by_order: Grouped[str] = field(default_factory=Grouped)
    """Row ids by order string, whatever the merchant (a (merchant, order) tuple per row
    would cost 72 bytes a payment); readers check the merchant."""
    _open: dict[str, None] = field(default_factory=dict)
    """Rows not in a final state, in insertion order: what reconciliation scans."""
    _seq: dict[str, int] = field(default_factory=dict)
    """Insertion order of every row: constraints are checked against rows in this order, so
    the first one violated, and hence the message, is what a scan of the table would meet."""

    # --- switches -------------------------------------------------------------------------

    def fail_next_commits(self, n: int = 1) -> None:
        """The next ``n`` commits fail cleanly: the client gets an error, nothing is applied."""
        self.failing_commits += n

    def _check(self) -> None:
        if not self.available:
            raise Unavailable("postgres: connection refused")

    # --- reads ----------------------------------------------------------------------------

    def find(self, merchant: str | None, key: str) -> Payment | None:
        """The oldest row with this key (of this merchant, unless ``merchant`` is None)."""
        self._check()
        best: Payment | None = None
        for pid in self._by_key.get(key):
            p = self.payments[pid]
            if merchant is not None and p.merchant != merchant:
                continue
            if best is None or (p.created_ms, p.id) < (best.created_ms, best.id):
                best = p
        return best

    def get(self, payment_id: str) -> Payment | None:
        self._check()
        return self.payments.get(payment_id)

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

    # --- writes ---------------------------------------------------------------------------

    def execute(self, writes: Iterable[Write], *, autocommit: bool = False) -> list[Payment]:
        """Apply writes as one transaction; on any error nothing is applied.

        Returns the rows touched by transitions, in order. A single statement outside an
        explicit transaction (``autocommit``) commits too, so it can fail like any commit.
        """
        self._check()
        staged: dict[str, Payment] = {}
        inserted: list[str] = []
        orders: dict[tuple[str, str], str] = {}
        applied: list[TransitionRecord] = []
        touched: list[Payment] = []
        for write in writes:
            if isinstance(write, PaymentInsert):
                self._insert(staged, inserted, write.payment)
            elif isinstance(write, PaymentTransition):
                row, record = self._transition(staged, inserted, write)
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
            self._by_key.add(row.idempotency_key, pid)
            self._by_order.add(row.order, pid)
            self._seq[pid] = len(self._seq)
        for pid, row in staged.items():
            self.payments[pid] = row
            if row.state in _FINAL:
                self._open.pop(pid, None)
            else:
                self._open[pid] = None
        self.orders.update(orders)
        self.transitions_applied += len(applied)
        if self.keep_legal_transitions:
            self.transitions.extend(applied)
        else:
            self.transitions.extend(t for t in applied if not t.legal)
        return touched

    def _current(self, staged: dict[str, Payment], pid: str) -> Payment | None:
        row = staged.get(pid)
        return row if row is not None else self.payments.get(pid)

    def _same_order(
        self, staged: dict[str, Payment], inserted: list[str], merchant: str, order: str
    ) -> list[Payment]:
        ids = self._by_order.get(order)
        ids += [i for i in inserted if staged[i].order == order]
        return [
            r
            for r in (self._current(staged, i) for i in ids)
            if r is not None and r.merchant == merchant
        ]

    def _insert(self, staged: dict[str, Payment], inserted: list[str], row: Payment) -> None:
        if self._current(staged, row.id) is not None:
            raise Conflict(
                f"duplicate key value violates unique constraint payments_pkey ({row.id})"
            )
        # The rows a scan of the table would meet, in the same (insertion) order, so the
        # first constraint violated, and hence the message, is the same.
        ids = set(self._by_key.get(row.idempotency_key))
        ids.update(self._by_order.get(row.order))
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

    def _transition(
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

    def order_paid_by(self, merchant: str, order: str) -> str | None:
        return self.orders.get((merchant, order))
