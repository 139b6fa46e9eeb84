"""``payharness verify``: run the property gate outside pytest and print what it found.

``--variant`` runs the state machine on a design (``hardened`` must pass, ``seed`` must be
caught); ``--mutants`` runs it on every mutant of ``hardened`` and prints the mutation table;
``--mutants --seeds N`` runs each mutant under N seeds and prints its kill rate;
``--mutate`` runs mutmut 3 over the core with the gate as kill test;
``--bench`` prints state-machine steps per second. The exit status is 0 when every design
behaved as the gate expects (hardened passes, seed and every mutant are caught).
"""

from __future__ import annotations

import argparse

from core.variants import VARIANTS
from payharness.usage import UsageError, int_in, number_in, plain
from verify.console import verify
from verify.profiles import PROFILES


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "verify",
        help="run the Hypothesis property gate (exactly-once under any interleaving and fault)",
        description=plain(__doc__ or ""),
    )
    p.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="ci",
        help="Hypothesis budget: dev (fast), ci (the gate, reproducible), nightly (10x)",
    )
    p.add_argument(
        "--variant",
        action="append",
        choices=sorted(VARIANTS),
        help="design to run the gate on (repeatable; default: seed and hardened)",
    )
    p.add_argument(
        "--mutants",
        action="store_true",
        help="also run every mutant of hardened and print the mutation table",
    )
    p.add_argument(
        "--equivalent",
        action="store_true",
        help="with --mutants: also run the documented equivalent mutants",
    )
    p.add_argument(
        "--seeds",
        type=int_in(1),
        metavar="N",
        help="with --mutants: run each mutant under N seeds (derandomize off, the profile's "
        "example budget) and print its kill rate and the seeds it survived",
    )
    p.add_argument(
        "--shrink-mutants",
        action="store_true",
        help="with --mutants: shrink each mutant's failure to a short program for display "
        "(the gate counts a kill at the first failure and does not shrink by default)",
    )
    p.add_argument(
        "--first-seed", type=int_in(0), default=0, help="with --seeds: the first seed (default 0)"
    )
    p.add_argument(
        "--mutate",
        action="store_true",
        help="mutmut 3 over core/flows, core/domain.py, core/models with the gate as kill "
        "test; prints killed / survived / equivalent (verify/mutate.py)",
    )
    p.add_argument(
        "--mutate-seconds",
        type=number_in(0, above=True),
        default=1800.0,
        help="with --mutate: stop mutmut after this long (it resumes on the next run)",
    )
    p.add_argument(
        "--max-mutants",
        type=int,
        metavar="N",
        help="with --mutate: run only N mutants not yet judged, spread evenly over the files",
    )
    p.add_argument("--bench", action="store_true", help="print state-machine steps per second")
    p.add_argument("--quiet", action="store_true", help="no traces or programs, summary only")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.mutants and (args.seeds is not None or args.equivalent):
        raise UsageError(
            f"{'--seeds' if args.seeds is not None else '--equivalent'} needs --mutants"
        )
    if args.mutate:
        from verify.mutate import mutate

        return mutate(args.mutate_seconds, args.max_mutants)
    return verify(
        args.profile,
        args.variant,
        mutants=args.mutants,
        equivalent=args.equivalent,
        bench=args.bench,
        quiet=args.quiet,
        seeds=args.seeds,
        first_seed=args.first_seed,
        shrink_mutants=args.shrink_mutants,
    )
