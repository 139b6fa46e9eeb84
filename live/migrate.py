"""Versioned SQL migrations (``live/migrations/NNNN_name.sql``), applied once each.

``migrate`` is safe to run twice and concurrently: it holds a Postgres advisory lock keyed by
the schema name, creates the schema and ``schema_migrations`` if needed, and applies only the
files whose version is not recorded, each in its own transaction with its record.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


@dataclass(frozen=True, slots=True)
class Migration:
    version: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


def migrations() -> list[Migration]:
    found = [Migration(p.stem, p) for p in sorted(MIGRATIONS_DIR.glob("*.sql"))]
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):  # pragma: no cover - a repository mistake
        raise RuntimeError(f"duplicate migration versions in {MIGRATIONS_DIR}")
    return found


async def migrate(database_url: str, schema: str, *, connect_timeout_s: int = 5) -> list[str]:
    """Apply pending migrations to ``schema``; returns the versions applied by this call."""
    applied: list[str] = []
    conn = await psycopg.AsyncConnection.connect(
        database_url, autocommit=True, connect_timeout=connect_timeout_s
    )
    async with conn:
        await conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"payharness:{schema}",))
        try:
            await conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
            )
            await conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cur = await conn.execute("SELECT version FROM schema_migrations")
            done = {row[0] for row in await cur.fetchall()}
            for migration in migrations():
                if migration.version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql.encode())
                    await conn.execute(
                        "INSERT INTO schema_migrations (version) VALUES (%s)",
                        (migration.version,),
                    )
                applied.append(migration.version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (f"payharness:{schema}",))
    return applied


async def drop_schema(database_url: str, schema: str) -> None:
    """Drop a schema this process created (tests); never used on the default schema."""
    conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
    async with conn:
        await conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        )
