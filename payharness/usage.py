"""Bad input is a usage error: one line on stderr, exit status 2, found before any work.

A command raises ``UsageError`` (or returns 2 after printing one line); ``payharness.cli.main``
prints ``payharness <command>: error: <message>`` and exits 2. The argparse ``type=``
helpers here turn a bad number into argparse's own error (usage line + one error line).
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from pathlib import Path

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad arguments: the message is one line naming the option and what is allowed."""


def int_in(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: an integer from ``lo`` (to ``hi``)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < lo or (hi is not None and value > hi):
            allowed = f"from {lo} to {hi}" if hi is not None else f"at least {lo}"
            raise argparse.ArgumentTypeError(f"{text!r}: allowed: {allowed}")
        return value

    parse.__name__ = "integer"
    return parse


def number_in(lo: float, *, above: bool = False) -> Callable[[str], float]:
    """An argparse ``type``: a number at least ``lo`` (more than ``lo`` when ``above``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value != value or value < lo or (above and value == lo):
            allowed = f"more than {lo:g}" if above else f"at least {lo:g}"
            raise argparse.ArgumentTypeError(f"{text!r}: allowed: {allowed}")
        return value

    parse.__name__ = "number"
    return parse


def out_dir(path: Path, option: str = "--out") -> Path:
    """Create the output folder ``path`` now (parents too) and check it is writable, so a bad
    ``--out`` fails before any simulation runs. Raises ``UsageError``."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"{option} {path}: exists and is not a folder") from None
    except NotADirectoryError:
        raise UsageError(f"{option} {path}: a parent of it is a file, not a folder") from None
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot create it ({exc.strerror or exc})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: the folder is not writable")
    return path


def plain(doc: str) -> str:
    """A docstring as ``--help`` text: reST ````literal```` marks dropped."""
    return re.sub(r"``(.+?)``", r"\1", doc, flags=re.DOTALL)


def scenario_problem(exc: Exception) -> str:
    """A ``ScenarioError`` as one line: an unknown name says so, a bad file names its key."""
    key = getattr(exc, "key", "")
    if key == "(name)":
        return f"scenario {getattr(exc, 'file', '')!r}: {getattr(exc, 'problem', exc)}"
    return str(exc)
