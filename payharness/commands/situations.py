"""``payharness situations``: the fixed situations on the memory runtime, verdicts per variant."""

from __future__ import annotations

import argparse

from core.variants import VARIANTS
from verify.situations import run_situations


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "situations",
        help="run the fixed situations on the memory runtime, print verdicts",
        description="Run the small named stories (double submit, lost provider reply, crash "
        "after the charge, key reused with another payload, pay again with a new key, ...) on "
        "the in-memory models for each variant, settle, and judge each with the checker. "
        "Prints a verdict table (ok / BAD per property) with a legend and the trace of every "
        "violation. Exit 0 exactly when each variant broke exactly the expected properties "
        "(seed is expected to break; hardened must hold everywhere).",
    )
    p.add_argument(
        "--variant",
        action="append",
        choices=sorted(VARIANTS),
        help="repeatable (default: all)",
    )
    p.set_defaults(func=lambda a: run_situations(a.variant))
