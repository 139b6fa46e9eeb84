"""Payments and orders in real Postgres (psycopg 3, async connection pool).

Guarantees the flows lean on, as the in-memory ``PostgresModel`` has them:
- unique indexes (``migrations/0001_payments.sql``) refuse a second row: ``Conflict(<index>)``;
- ``DbTransaction`` commits all of its writes or none;
- a transition with ``expected`` is compare-and-set (``UPDATE … WHERE state = expected``,
  under a row lock): a refusal is ``Conflict``; a blind one applies whatever the table says,
  and the transition log records whether it was legal;
- a refused connection, pool timeout, serialization failure or deadlock is ``Unavailable``
  (nothing applied); a connection lost *during COMMIT* is ``OutcomeUnknown``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pgerrors
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
_P_COLUMNS = ", ".join(f"p.{c.strip()}" for c in COLUMNS.split(","))


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


_TRANSIENT = (
    pgerrors.SerializationFailure,
    pgerrors.DeadlockDetected,
    pgerrors.LockNotAvailable,
    pgerrors.QueryCanceled,
    pgerrors.AdminShutdown,
    pgerrors.CannotConnectNow,
)


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
        self.key_scope, self.one_live_order = schema_for(variant)
        self.pool = AsyncConnectionPool(
            database_url,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout_s,
            open=False,
            kwargs={
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
        """Unavailable with a hint when the schema has not been migrated."""
        try:
            await self._read("SELECT version FROM schema_migrations", ())
        except pgerrors.UndefinedTable as exc:
            raise Unavailable(
                f"postgres: schema {self.schema!r} has no tables; run `payharness db migrate` "
                "(with the same PAYHARNESS_DB_SCHEMA)"
            ) from exc

    # --- plumbing -------------------------------------------------------------------------

    async def _read(self, query: Any, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        try:
            async with self.pool.connection() as conn:
                cur = await conn.execute(query, params)
                return await cur.fetchall()
        except PoolTimeout as exc:
            raise Unavailable(f"postgres: no connection: {exc}") from exc
        except (psycopg.OperationalError, *_TRANSIENT) as exc:
            raise Unavailable(f"postgres: {exc}") from exc

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
        """Apply ``writes`` in one transaction; returns the rows touched by transitions."""
        touched: list[Payment] = []
        try:
            async with self.pool.connection() as conn:
                try:
                    async with conn.cursor() as cur:
                        for write in writes:
                            if isinstance(write, PaymentInsert):
                                await self._insert(cur, write.payment)
                            elif isinstance(write, PaymentTransition):
                                touched.append(await self._transition(cur, write))
                            elif isinstance(write, OrderMarkPaid):
                                await self._mark_paid(cur, write)
                            else:  # pragma: no cover - the Write union is closed
                                raise TypeError(f"not a write: {write!r}")
                except pgerrors.UniqueViolation as exc:
                    await conn.rollback()
                    name = exc.diag.constraint_name or "unique"
                    raise Conflict(
                        f"duplicate key value violates unique constraint {name}"
                    ) from exc
                except pgerrors.ForeignKeyViolation as exc:
                    await conn.rollback()
                    raise Conflict(f"foreign key violation: {exc.diag.message_primary}") from exc
                except Conflict:
                    await conn.rollback()
                    raise
                try:
                    await conn.commit()
                except psycopg.OperationalError as exc:
                    raise OutcomeUnknown(f"postgres: COMMIT outcome unknown: {exc}") from exc
        except PoolTimeout as exc:
            raise Unavailable(f"postgres: no connection: {exc}") from exc
        except (psycopg.OperationalError, *_TRANSIENT) as exc:
            raise Unavailable(f"postgres: {exc}") from exc
        return touched

    async def _insert(self, cur: psycopg.AsyncCursor[Any], p: Payment) -> None:
        await cur.execute(
            "INSERT INTO payments (id, variant, key_scope, one_live_order, merchant, order_id, "
            "idempotency_key, amount, currency, source, fingerprint, provider_key, state, "
            "created_ms, updated_ms, charge_id, error) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
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
                now_ms(),
                p.charge_id,
                p.error,
            ),
        )

    async def _transition(self, cur: psycopg.AsyncCursor[Any], t: PaymentTransition) -> Payment:
        cas = "" if t.expected is None else " AND old.state = %(expected)s"
        at = now_ms()
        await cur.execute(
            "UPDATE payments p SET state = %(target)s, "
            "charge_id = COALESCE(%(charge_id)s, p.charge_id), "
            "error = COALESCE(%(error)s, p.error), updated_ms = %(at)s "
            "FROM (SELECT id, state FROM payments WHERE id = %(id)s FOR UPDATE) old "
            f"WHERE p.id = old.id{cas} RETURNING old.state, {_P_COLUMNS}",
            {
                "target": t.target.value,
                "charge_id": t.charge_id,
                "error": t.error,
                "at": at,
                "id": t.payment_id,
                "expected": None if t.expected is None else t.expected.value,
            },
        )
        row = await cur.fetchone()
        if row is None:
            await cur.execute("SELECT state FROM payments WHERE id = %s", (t.payment_id,))
            current = await cur.fetchone()
            if current is None:
                raise Conflict(f"payment {t.payment_id} does not exist")
            raise Conflict(
                f"payment {t.payment_id} is {current[0]}, not {t.expected}: compare-and-set refused"
            )
        source = PaymentState(row[0])
        await cur.execute(
            "INSERT INTO payment_transitions (payment_id, source, target, legal, at_ms) "
            "VALUES (%s, %s, %s, %s, %s)",
            (t.payment_id, source.value, t.target.value, is_allowed(source, t.target), at),
        )
        return row_to_payment(row[1:])

    async def _mark_paid(self, cur: psycopg.AsyncCursor[Any], w: OrderMarkPaid) -> None:
        await cur.execute(
            "INSERT INTO orders (variant, merchant, order_id, payment_id, paid_ms) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (variant, merchant, order_id) "
            "DO UPDATE SET payment_id = EXCLUDED.payment_id, paid_ms = EXCLUDED.paid_ms",
            (self.variant.name, w.merchant, w.order, w.payment_id, now_ms()),
        )

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
