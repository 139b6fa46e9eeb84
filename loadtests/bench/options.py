"""The bench's options, with their defaults (``payharness bench live`` parses them)."""

from __future__ import annotations

import argparse
from pathlib import Path

ENDPOINTS = ("bare", "seed", "hardened")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--servers", type=int, default=2, help="server processes per endpoint")
    parser.add_argument("--slo-ms", type=float, default=250.0)
    parser.add_argument("--level-seconds", type=float, default=5.0, help="seconds per rate")
    parser.add_argument("--start-rate", type=float, default=10.0, help="first rate, payments/s")
    parser.add_argument("--growth", type=float, default=1.35, help="rate multiplier per step")
    parser.add_argument("--max-rate", type=float, default=2000.0)
    parser.add_argument(
        "--bisect",
        type=int,
        default=3,
        help="levels spent between the highest rate that held and the first that failed",
    )
    parser.add_argument("--component-seconds", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, default=32, help="component probes")
    parser.add_argument("--endpoints", default=",".join(ENDPOINTS))
    parser.add_argument(
        "--order",
        choices=("interleaved", "sequential"),
        default="interleaved",
        help="interleaved (default): the endpoints' ramps advance in lockstep, one level of "
        "each in turn, so a change in the machine's background load hits all of them alike; "
        "sequential: one endpoint's whole ramp after the other",
    )
    parser.add_argument("--out", type=Path, default=None, help="folder (default out/bench/ID)")
