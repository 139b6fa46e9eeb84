"""``payharness merchants add NAME | list | revoke KEY_ID``: merchants' API keys.

``add`` prints the new key once, alone on stdout (``KEY=$(payharness merchants add m1)``),
its id on stderr; only a salted hash is stored (``live/merchant_keys.py``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("merchants", help="live stack: merchants' API keys (add, list, revoke)")
    msub = p.add_subparsers(dest="merchants_command", metavar="MERCHANTS_COMMAND")
    schema_help = "Postgres schema (default: $PAYHARNESS_DB_SCHEMA)"

    a = msub.add_parser("add", help="issue an API key for merchant NAME (printed once)")
    a.add_argument("name", metavar="NAME")
    a.add_argument("--schema", default=None, help=schema_help)
    a.set_defaults(func=add)

    ls = msub.add_parser("list", help="every key: id, merchant, created, active or revoked")
    ls.add_argument("--merchant-prefix", default=None, help="only merchants starting with this")
    ls.add_argument("--schema", default=None, help=schema_help)
    ls.set_defaults(func=list_)

    r = msub.add_parser("revoke", help="revoke key KEY_ID: it authenticates nobody from now on")
    r.add_argument("key_id", metavar="KEY_ID")
    r.add_argument("--schema", default=None, help=schema_help)
    r.set_defaults(func=revoke)

    def usage(_args: argparse.Namespace) -> int:
        p.print_help()
        return 2

    p.set_defaults(func=usage)


def _with_db(name: str, args: argparse.Namespace, job: Callable[[str, str], int]) -> int:
    import psycopg

    from live.config import ConfigError, LiveConfig

    try:
        config = LiveConfig.from_env()
        if args.schema:
            config = config.with_changes(db_schema=args.schema)
    except ConfigError as exc:
        print(f"merchants {name}: {exc}", file=sys.stderr)
        return 2
    try:
        return job(config.database_url, config.db_schema)
    except psycopg.errors.UndefinedTable:
        print(
            f"merchants {name}: schema {config.db_schema} has no merchant_keys table; "
            "run `payharness db migrate` (with the same PAYHARNESS_DB_SCHEMA)",
            file=sys.stderr,
        )
        return 1
    except psycopg.OperationalError as exc:
        print(
            f"merchants {name}: cannot reach Postgres (PAYHARNESS_DATABASE_URL): {exc}",
            file=sys.stderr,
        )
        return 1


def add(args: argparse.Namespace) -> int:
    from live.merchant_keys import add_key

    def job(url: str, schema: str) -> int:
        try:
            issued = add_key(url, schema, args.name)
        except ValueError as exc:
            print(f"merchants add: {exc}", file=sys.stderr)
            return 2
        print(
            f"key {issued.key_id} for merchant {issued.merchant!r}; it is shown once, "
            "only its hash is stored:",
            file=sys.stderr,
        )
        print(issued.token, flush=True)
        return 0

    return _with_db("add", args, job)


def list_(args: argparse.Namespace) -> int:
    from live.merchant_keys import list_keys

    def job(url: str, schema: str) -> int:
        keys = list_keys(url, schema, args.merchant_prefix)
        print(f"{'key id':16}  {'status':7}  {'created (UTC)':19}  merchant")
        for k in keys:
            status = "active" if k.active else "revoked"
            created = k.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
            print(f"{k.key_id:16}  {status:7}  {created:19}  {k.merchant}")
        return 0

    return _with_db("list", args, job)


def revoke(args: argparse.Namespace) -> int:
    from live.merchant_keys import revoke_key

    def job(url: str, schema: str) -> int:
        if revoke_key(url, schema, args.key_id):
            print(f"revoked {args.key_id}")
            return 0
        print(f"merchants revoke: no active key {args.key_id!r}", file=sys.stderr)
        return 1

    return _with_db("revoke", args, job)


if __name__ == "__main__":
    from payharness.cli import run_command

    raise SystemExit(run_command("merchants", register))
