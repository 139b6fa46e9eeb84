"""``payharness db migrate``: apply the live schema's SQL migrations (safe to run twice)."""

from __future__ import annotations

import argparse
import asyncio
import sys


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("db", help="live database: migrations")
    dbsub = p.add_subparsers(dest="db_command", metavar="DB_COMMAND")
    m = dbsub.add_parser("migrate", help="apply pending migrations to $PAYHARNESS_DB_SCHEMA")
    m.add_argument(
        "--schema", default=None, help="Postgres schema (default: $PAYHARNESS_DB_SCHEMA)"
    )
    m.set_defaults(func=migrate)
    p.set_defaults(func=lambda a: p.error("choose migrate (payharness db migrate --help)"))


def migrate(args: argparse.Namespace) -> int:
    import psycopg

    from live.config import ConfigError, LiveConfig
    from live.migrate import migrate as apply

    try:
        config = LiveConfig.from_env()
        if args.schema:
            config = config.with_changes(db_schema=args.schema)
    except ConfigError as exc:
        print(f"db migrate: {exc}", file=sys.stderr)
        return 2
    try:
        applied = asyncio.run(apply(config.database_url, config.db_schema))
    except psycopg.OperationalError as exc:
        print(
            f"db migrate: cannot reach Postgres at {config.database_url} "
            f"(PAYHARNESS_DATABASE_URL): {exc}",
            file=sys.stderr,
        )
        return 1
    if applied:
        print(f"schema {config.db_schema}: applied {', '.join(applied)}")
    else:
        print(f"schema {config.db_schema}: up to date")
    return 0
