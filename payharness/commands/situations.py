"""``payharness situations``: the fixed situations on the memory runtime, verdicts per variant."""

from __future__ import annotations

import argparse

from verify.situations import run_situations


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "situations", help="run the fixed situations on the memory runtime, print verdicts"
    )
    p.add_argument("--variant", action="append", help="seed or hardened (default: both)")
    p.set_defaults(func=lambda a: run_situations(a.variant))
