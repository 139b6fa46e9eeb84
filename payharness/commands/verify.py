"""``payharness verify``: run the property gate outside pytest and print what it found.

``--variant`` runs the state machine on a design (``hardened`` must pass, ``seed`` must be
caught); ``--mutants`` runs it on every mutant of ``hardened`` and prints the mutation table;
``--bench`` prints state-machine steps per second. The exit status is 0 when every design
behaved as the gate expects (hardened passes, seed and every mutant are caught).
"""

from __future__ import annotations

import argparse
import sys
import time

from core.mutants import EQUIVALENT, MUTANTS
from core.variants import VARIANTS, Variant
from payharness.gate import PROFILES, GateResult, replayable_program, run_gate

EXPECTED_TO_PASS = frozenset({"hardened"})


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "verify",
        help="run the Hypothesis property gate (exactly-once under any interleaving and fault)",
        description=__doc__,
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
    p.add_argument("--bench", action="store_true", help="print state-machine steps per second")
    p.add_argument("--quiet", action="store_true", help="no traces or programs, summary only")
    p.set_defaults(func=verify)


def verify(args: argparse.Namespace) -> int:
    ok = True
    started = time.perf_counter()
    if args.bench:
        bench(args.profile)
        if not args.variant and not args.mutants:
            return 0
    names = args.variant or ["seed", "hardened"]
    print(f"property gate, profile {args.profile}")
    for name in names:
        ok &= _design(VARIANTS[name], args.profile, quiet=args.quiet)
    if args.mutants:
        ok &= mutation_table(args.profile, equivalent=args.equivalent)
    print(f"\ngate {'OK' if ok else 'FAILED'} in {time.perf_counter() - started:.1f} s")
    return 0 if ok else 1


def _design(variant: Variant, profile: str, *, quiet: bool) -> bool:
    result = run_gate(variant, profile=profile)
    expect_pass = variant.name in EXPECTED_TO_PASS
    met = result.failed != expect_pass
    if result.failed:
        verdict = "caught (as expected)" if met else "BROKEN"
        print(
            f"\n{variant.name}: {verdict} after {result.stats.first_failure_at} examples; "
            f"shrunk to {result.program_steps} steps in {result.seconds:.1f} s"
        )
        if not quiet:
            print(result.message)
            print("\nreplayable program (payharness.gate.replay):")
            print(replayable_program(result))
    else:
        verdict = "holds" if met else "NOT CAUGHT"
        print(
            f"\n{variant.name}: {verdict}: {result.stats.examples} examples, "
            f"{result.stats.steps} steps, {result.seconds:.1f} s "
            f"({result.steps_per_second:.0f} steps/s)"
        )
    return met


def mutation_table(profile: str, *, equivalent: bool = False) -> bool:
    """Run every mutant; print one row each. True when every counted mutant was killed."""
    rows: list[tuple[str, GateResult, bool]] = []
    print("\nmutants of hardened (core.mutants):")
    header = f"{'mutant':40} {'killed':>7} {'examples':>9} {'seconds':>8} {'shrunk':>7}  broke"
    print(header)
    print("-" * len(header))
    chosen = [(m, True) for m in MUTANTS.values()]
    if equivalent:
        chosen += [(m, False) for m in EQUIVALENT.values()]
    for mutant, counted in chosen:
        result = run_gate(mutant.variant, profile=profile)
        rows.append((mutant.name, result, counted))
        examples = result.stats.first_failure_at if result.failed else result.stats.examples
        broke = result.broken or "-"
        name = mutant.name + ("" if counted else " (equivalent)")
        print(
            f"{name:40} {'yes' if result.failed else 'NO':>7} {examples!s:>9} "
            f"{result.seconds:8.1f} {result.program_steps if result.failed else '-'!s:>7}  "
            f"{broke}",
            flush=True,
        )
    killed = sum(1 for _, r, counted in rows if counted and r.failed)
    total = sum(1 for _, _, counted in rows if counted)
    print(f"mutation score: {killed}/{total} killed within the {profile} profile")
    return killed == total


def bench(profile: str) -> None:
    """Steps per second of the state machine on hardened (a passing run: no shrinking)."""
    result = run_gate(VARIANTS["hardened"], profile=profile)
    stats = result.stats
    print(
        f"bench ({profile}, hardened): {stats.examples} examples, {stats.steps} steps, "
        f"{stats.effects} effects, {stats.checks} checker calls in {result.seconds:.2f} s: "
        f"{result.steps_per_second:.0f} steps/s, {stats.effects / result.seconds:.0f} effects/s, "
        f"{stats.examples / result.seconds:.1f} examples/s",
        file=sys.stdout,
    )
