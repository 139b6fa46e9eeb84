"""Payments and orders in real Postgres (psycopg 3, async connection pool).

Guarantees the flows lean on, as the in-memory ``PostgresModel`` has them:
- unique indexes (``migrations/0001_payments.sql``) refuse a second row: ``Conflict(<index>)``;
- ``DbTransaction`` commits all of its writes or none;
- a transition with ``expected`` is compare-and-set (``UPDATE … WHERE state = expected``,
  under a row lock): a refusal is ``Conflict``; a blind one applies whatever the table says,
  and the transition log records whether it was legal;
- a refused connection, pool timeout, serialization failure or deadlock is ``Unavailable``
  (nothing applied); a connection lost while a write may have committed is ``OutcomeUnknown``.

Round trips: a pooled connection is in autocommit mode, so a read is one statement and one
round trip; a single write is one statement that commits on its own (one round trip); a single
transition is a call of ``ph_transition()`` (migration 0003: the row lock, the compare-and-set
``UPDATE``, its row in the transition log, and a server-side refusal through ``cas_refused()``,
migration 0002). Several writes are one call of ``ph_apply()`` (migration 0004) with the writes
as one JSON parameter: one prepared statement that Postgres runs as one implicit transaction
(one round trip), applying them in order, so the first refused write stops the transaction on
the server exactly where the model stops: no later write of it runs and nothing commits.
Consecutive transitions of one payment (PENDING → PROCESSING → COMPLETED in a completion)
lock and write the row once, each step still logged. The functions' statements keep their
plans for the session, so a write costs the server execution, not parsing and planning. No
connection is held between effects (so none is held across the provider call).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pgerrors
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from core.domain import Payment, PaymentState, is_allowed
from core.effects import (
    Conflict,
    OrderMarkPaid,
    OutcomeUnknown,
    PaymentInsert,
    PaymentTransition,
    Unavailable,
    Write,
)
from core.runtime.world import schema_for
from core.variants import Variant

COLUMNS = (
    "id, merchant, order_id, idempotency_key, amount, currency, source, fingerprint, "
    "provider_key, state, created_ms, charge_id, error"
)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def row_to_payment(row: Sequence[Any]) -> Payment:
    return Payment(
        id=row[0],
        merchant=row[1],
        order=row[2],
        idempotency_key=row[3],
        amount=int(row[4]),
        currency=row[5],
        source=row[6],
        fingerprint=row[7],
        provider_key=row[8],
        state=PaymentState(row[9]),
        created_ms=int(row[10]),
        charge_id=row[11],
        error=row[12],
    )


@dataclass(frozen=True, slots=True)
class TransitionRow:
    payment_id: str
    source: PaymentState
    target: PaymentState
    legal: bool
    at_ms: int


CAS_REFUSED = "PHCAS"
"""SQLSTATE raised by ``cas_refused()`` (migration 0002)."""

_LEGAL_SOURCES: dict[PaymentState, list[str]] = {
    target: [s.value for s in PaymentState if is_allowed(s, target)] for target in PaymentState
}
"""For each target, the states from which moving there is legal (``core.domain.is_allowed``)."""

_INSERT = (
    "INSERT INTO payments (id, variant, key_scope, one_live_order, merchant, order_id, "
    "idempotency_key, amount, currency, source, fingerprint, provider_key, state, "
    "created_ms, updated_ms, charge_id, error) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_INSERT_FIELDS = (
    "id", "variant", "key_scope", "one_live_order", "merchant", "order", "key", "amount",
    "currency", "source", "fingerprint", "provider_key", "state", "created_ms", "at",
    "charge_id", "error",
)  # fmt: skip
"""An insert's values in ``_INSERT``'s column order, by the names ``ph_apply()`` reads from an
insert op (migration 0004): ``_insert_values`` feeds both."""


_TRANSITION = (
    f"SELECT {COLUMNS} FROM ph_transition(%(id)s::text, %(cas)s::boolean, %(expected)s::text, "
    "%(target)s::text, %(charge_id)s::text, %(error)s::text, %(at)s::bigint, %(legal)s::text[])"
)
"""One statement: ``ph_transition()`` (migration 0003) locks the row, compare-and-sets
(``cas``) or updates blindly, logs the transition with its legality and raises ``PHCAS``
when the row is missing or in another state than expected; it returns the updated row.
PL/pgSQL keeps the plans of its statements for the session. A transition that is part of a
transaction of several writes goes through ``ph_apply()`` instead, which does the same."""
_LIVE_STATES = frozenset(s for s in PaymentState if s is not PaymentState.FAILED)
"""The states ``payments_live_order`` holds (``Payment.live``: every state but FAILED)."""
_APPLY = f"SELECT {COLUMNS} FROM ph_apply(%s::jsonb)"
"""Several writes as one statement (migration 0004): one prepared statement, one parameter."""
_MARK_PAID = (
    "INSERT INTO orders (variant, merchant, order_id, payment_id, paid_ms) "
    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (variant, merchant, order_id) "
    "DO UPDATE SET payment_id = EXCLUDED.payment_id, paid_ms = EXCLUDED.paid_ms"
)

_TRANSIENT = (
    pgerrors.SerializationFailure,
    pgerrors.DeadlockDetected,
    pgerrors.LockNotAvailable,
    pgerrors.QueryCanceled,
    pgerrors.AdminShutdown,
    pgerrors.CannotConnectNow,
)
_STATEMENT_FAILED = (
    pgerrors.SerializationFailure,
    pgerrors.DeadlockDetected,
    pgerrors.LockNotAvailable,
    pgerrors.QueryCanceled,
)
"""Errors of a statement the server reports and survives: it skipped the rest, COMMIT too."""


class PostgresStore:
    """The payments tables of one schema, as seen by one variant."""

    def __init__(
        self,
        database_url: str,
        schema: str,
        variant: Variant,
        *,
        min_size: int = 1,
        max_size: int = 10,
        timeout_s: float = 5.0,
    ) -> None:
        self.schema = schema
        self.variant = variant
        self.round_trips = 0
        """Exchanges with the server this store made (a pipeline is one): ``GET /stats``."""
        self.key_scope, self.one_live_order = schema_for(variant)
        self.pool = AsyncConnectionPool(
            database_url,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout_s,
            open=False,
            kwargs={
                "autocommit": True,
                "options": f"-c search_path={schema}",
                "connect_timeout": max(1, int(timeout_s)),
            },
        )

    async def open(self) -> None:
        try:
            await self.pool.open(wait=True, timeout=self.pool.timeout)
        except (PoolTimeout, psycopg.OperationalError) as exc:
            raise Unavailable(f"postgres: cannot connect: {exc}") from exc

    async def close(self) -> None:
        await self.pool.close()

    async def check_schema(self) -> None:
        """Unavailable with a hint when the schema has not been migrated (to the last version:
        the writes rely on ``cas_refused()`` and ``ph_transition()``, migrations 0002-0003)."""
        from live.migrate import migrations

        hint = "run `payharness db migrate` (with the same PAYHARNESS_DB_SCHEMA)"
        try:
            rows = await self._read("SELECT version FROM schema_migrations", ())
        except pgerrors.UndefinedTable as exc:
            raise Unavailable(f"postgres: schema {self.schema!r} has no tables; {hint}") from exc
        missing = sorted({m.version for m in migrations()} - {r[0] for r in rows})
        if missing:
            raise Unavailable(
                f"postgres: schema {self.schema!r} lacks migrations {', '.join(missing)}; {hint}"
            )

    # --- plumbing -------------------------------------------------------------------------

    async def _read(self, query: Any, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        try:
            async with self.pool.connection() as conn:
                self.round_trips += 1
                cur = await conn.execute(query, params)
                return await cur.fetchall()
        except PoolTimeout as exc:
            raise Unavailable(f"postgres: no connection: {exc}") from exc
        except (psycopg.OperationalError, *_TRANSIENT) as exc:
            raise Unavailable(f"postgres: {exc}") from exc

    async def query(self, query: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """One autocommit read of another table of the schema (``live.merchant_keys``);
        faults as for every read (``Unavailable``)."""
        return await self._read(query, params)

    async def ping(self) -> bool:
        rows = await self._read("SELECT 1", ())
        return rows == [(1,)]

    # --- reads ----------------------------------------------------------------------------

    async def find(self, merchant: str | None, key: str) -> Payment | None:
        if merchant is None:
            rows = await self._read(
                f"SELECT {COLUMNS} FROM payments WHERE variant = %s AND idempotency_key = %s "
                "ORDER BY created_ms, id LIMIT 1",
                (self.variant.name, key),
            )
        else:
            rows = await self._read(
                f"SELECT {COLUMNS} FROM payments WHERE variant = %s AND merchant = %s "
                "AND idempotency_key = %s ORDER BY created_ms, id LIMIT 1",
                (self.variant.name, merchant, key),
            )
        return row_to_payment(rows[0]) if rows else None

    async def get(self, payment_id: str) -> Payment | None:
        rows = await self._read(f"SELECT {COLUMNS} FROM payments WHERE id = %s", (payment_id,))
        return row_to_payment(rows[0]) if rows else None

    async def to_reconcile(self, stale_before_ms: int, limit: int) -> tuple[Payment, ...]:
        rows = await self._read(
            f"SELECT {COLUMNS} FROM payments WHERE variant = %s AND (state = 'RECONCILE' OR "
            "(state IN ('PENDING', 'PROCESSING') AND created_ms < %s)) "
            "ORDER BY created_ms, id LIMIT %s",
            (self.variant.name, stale_before_ms, limit),
        )
        return tuple(row_to_payment(r) for r in rows)

    # --- writes ---------------------------------------------------------------------------

    async def execute(self, writes: Sequence[Write]) -> list[Payment]:
        """Apply ``writes`` in one transaction; returns the rows touched by transitions.

        One round trip: a single write is one autocommitted statement; several are one call
        of ``ph_apply()`` (migration 0004), one statement that Postgres runs as one implicit
        transaction. A statement that fails (unique or foreign key violation, refused
        compare-and-set, serialization failure) stops there and rolls back: nothing is
        applied. A lost connection cannot tell whether the commit happened: ``OutcomeUnknown``.
        """
        if len(writes) == 1:
            query, params, returns = self._statement(writes[0])
        else:
            query, params, returns = _APPLY, (self._apply_ops(writes),), True
        touched: list[Payment] = []
        try:
            async with self.pool.connection() as conn:
                self.round_trips += 1
                try:
                    cur = await conn.execute(query, params)
                    if returns:
                        rows = await cur.fetchall()
                        if not rows and len(writes) == 1:  # pragma: no cover - it raises
                            raise Conflict("transition updated no row")
                        touched.extend(row_to_payment(r) for r in rows)
                except psycopg.Error as exc:
                    if conn.pgconn.transaction_status != TransactionStatus.IDLE:
                        self.round_trips += 1
                    await _rollback(conn)
                    fault = _write_fault(exc)
                    if fault is exc:
                        raise
                    raise fault from exc
        except PoolTimeout as exc:
            raise Unavailable(f"postgres: no connection: {exc}") from exc
        return touched

    async def commit(self, writes: Sequence[Write]) -> None:
        """``execute`` for writes whose touched rows nobody needs (the payment store's commit)."""
        await self.execute(writes)

    async def transition(self, change: PaymentTransition) -> Payment:
        """One transition on its own; the row as it now is."""
        return (await self.execute((change,)))[0]

    def _apply_ops(self, writes: Sequence[Write]) -> str:
        """The ``ph_apply()`` argument: the writes in order as one JSON array. Consecutive
        transitions of one payment, each after the first comparing against the state the one
        before it set (or blind), all to live states, become one path: one row lock and one
        row write for the lot, every step still logged (see migration 0004)."""
        at = now_ms()
        ops: list[dict[str, Any]] = []
        path: dict[str, Any] | None = None
        last: PaymentState | None = None
        for write in writes:
            if isinstance(write, PaymentTransition):
                step = {
                    "to": write.target.value,
                    "ch": write.charge_id,
                    "err": write.error,
                    "legal": _LEGAL_SOURCES[write.target],
                }
                if (
                    path is not None
                    and path["id"] == write.payment_id
                    and write.expected in (None, last)
                    and write.target in _LIVE_STATES
                ):
                    path["steps"].append(step)
                else:
                    path = {
                        "k": "t",
                        "id": write.payment_id,
                        "cas": write.expected is not None,
                        "exp": None if write.expected is None else write.expected.value,
                        "at": at,
                        "steps": [step],
                    }
                    ops.append(path)
                last = write.target
                if write.target not in _LIVE_STATES:
                    path = None  # nothing joins a path whose last step is not live
                continue
            path = None
            if isinstance(write, PaymentInsert):
                values = self._insert_values(write.payment, at)
                ops.append({"k": "i", **dict(zip(_INSERT_FIELDS, values, strict=True))})
            elif isinstance(write, OrderMarkPaid):
                ops.append(
                    {
                        "k": "o",
                        "variant": self.variant.name,
                        "merchant": write.merchant,
                        "order": write.order,
                        "payment": write.payment_id,
                        "at": at,
                    }
                )
            else:  # pragma: no cover - the union is closed
                raise TypeError(f"not a write: {write!r}")
        return json.dumps(ops, separators=(",", ":"))

    def _insert_values(self, p: Payment, at: int) -> tuple[Any, ...]:
        """A payment row's values in ``_INSERT_FIELDS`` order, with this store's variant."""
        return (
            p.id,
            self.variant.name,
            self.key_scope,
            self.one_live_order,
            p.merchant,
            p.order,
            p.idempotency_key,
            p.amount,
            p.currency,
            p.source,
            p.fingerprint,
            p.provider_key,
            p.state.value,
            p.created_ms,
            at,
            p.charge_id,
            p.error,
        )

    def _statement(self, write: Write) -> tuple[str, Any, bool]:
        """The one SQL statement for a write, its parameters, whether it returns a row."""
        if isinstance(write, PaymentInsert):
            return _INSERT, self._insert_values(write.payment, now_ms()), False
        if isinstance(write, PaymentTransition):
            return (
                _TRANSITION,
                {
                    "id": write.payment_id,
                    "cas": write.expected is not None,
                    "target": write.target.value,
                    "charge_id": write.charge_id,
                    "error": write.error,
                    "at": now_ms(),
                    "expected": None if write.expected is None else write.expected.value,
                    "legal": _LEGAL_SOURCES[write.target],
                },
                True,
            )
        if isinstance(write, OrderMarkPaid):
            return (
                _MARK_PAID,
                (self.variant.name, write.merchant, write.order, write.payment_id, now_ms()),
                False,
            )
        raise TypeError(f"not a write: {write!r}")  # pragma: no cover - the union is closed

    # --- audit ----------------------------------------------------------------------------

    async def all_payments(self, variant: str | None = None) -> list[Payment]:
        if variant is None:
            rows = await self._read(f"SELECT {COLUMNS} FROM payments ORDER BY created_ms, id", ())
        else:
            rows = await self._read(
                f"SELECT {COLUMNS} FROM payments WHERE variant = %s ORDER BY created_ms, id",
                (variant,),
            )
        return [row_to_payment(r) for r in rows]

    async def all_orders(self, variant: str | None = None) -> dict[tuple[str, str], str]:
        rows = await self._read(
            "SELECT merchant, order_id, payment_id FROM orders "
            "WHERE %s::text IS NULL OR variant = %s",
            (variant, variant),
        )
        return {(r[0], r[1]): r[2] for r in rows}

    async def all_transitions(self, variant: str | None = None) -> list[TransitionRow]:
        rows = await self._read(
            "SELECT t.payment_id, t.source, t.target, t.legal, t.at_ms "
            "FROM payment_transitions t JOIN payments p ON p.id = t.payment_id "
            "WHERE %s::text IS NULL OR p.variant = %s ORDER BY t.seq",
            (variant, variant),
        )
        return [
            TransitionRow(r[0], PaymentState(r[1]), PaymentState(r[2]), bool(r[3]), int(r[4]))
            for r in rows
        ]


async def _rollback(conn: psycopg.AsyncConnection[Any]) -> None:
    """End a failed transaction; a broken connection is left to the pool, which drops it."""
    try:
        await conn.rollback()
    except psycopg.Error:
        pass


def _write_fault(exc: psycopg.Error) -> Exception:
    """What a failed write exchange means to the flow (see the module docstring)."""
    if isinstance(exc, pgerrors.UniqueViolation):
        name = exc.diag.constraint_name or "unique"
        return Conflict(f"duplicate key value violates unique constraint {name}")
    if isinstance(exc, pgerrors.ForeignKeyViolation):
        return Conflict(f"foreign key violation: {exc.diag.message_primary}")
    if exc.sqlstate == CAS_REFUSED:
        return Conflict(exc.diag.message_primary or "compare-and-set refused")
    if isinstance(exc, _STATEMENT_FAILED):
        return Unavailable(f"postgres: {exc}")  # the statement failed: nothing committed
    if isinstance(exc, psycopg.OperationalError):
        return OutcomeUnknown(f"postgres: outcome unknown, the commit may have happened: {exc}")
    return exc
