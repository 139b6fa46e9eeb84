"""``payharness``: one entry point; each subcommand lives in ``payharness/commands/<name>.py``.

A command module defines ``register(subparsers)`` which adds its parser and sets
``func=callable(args) -> int``. Modules are discovered, so adding a command touches no
shared file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable, Sequence

import payharness.commands as commands
from payharness.usage import EXIT_USAGE, UsageError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="payharness",
        description="Prove (or refute) that a payment design charges every order exactly once.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def run_command(
    name: str,
    register: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None],
    argv: Sequence[str] | None = None,
) -> int:
    """Run one command without discovering the others (which imports every command's
    modules): for processes started as ``python -m payharness.commands.NAME``."""
    parser = argparse.ArgumentParser(prog="payharness")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args([name, *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"payharness {name}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"payharness {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
