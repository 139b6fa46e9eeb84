"""What ``payharness verify`` prints: each design's verdict, the mutation table, the bench.

Hardened must hold; seed and every mutant must be caught. The exit status says whether every
design behaved as the gate expects."""

from __future__ import annotations

import time

from core.variants import VARIANTS, Variant
from verify.kill_rates import TARGET, KillRate, kill_rate
from verify.mutants import EQUIVALENT, MUTANTS
from verify.runner import GateResult, replayable_program, run_gate, run_mutant

EXPECTED_TO_PASS = frozenset({"hardened"})


def verify(
    profile: str,
    variant_names: list[str] | None = None,
    *,
    mutants: bool = False,
    equivalent: bool = False,
    bench: bool = False,
    quiet: bool = False,
    seeds: int | None = None,
    first_seed: int = 0,
    shrink_mutants: bool = False,
) -> int:
    """Run the gate on the named designs (default: seed and hardened), optionally every
    mutant and the bench; 0 when each behaved as expected."""
    ok = True
    started = time.perf_counter()
    if bench:
        print_bench(profile)
        if not variant_names and not mutants:
            return 0
    names = variant_names or ([] if mutants and seeds is not None else ["seed", "hardened"])
    print(f"property gate, profile {profile}")
    for name in names:
        ok &= design_verdict(VARIANTS[name], profile, quiet=quiet)
    if mutants and seeds is not None:
        ok &= kill_rate_table(profile, range(first_seed, first_seed + seeds), equivalent=equivalent)
    elif mutants:
        ok &= mutation_table(profile, equivalent=equivalent, shrink=shrink_mutants)
    print(f"\ngate {'OK' if ok else 'FAILED'} in {time.perf_counter() - started:.1f} s")
    return 0 if ok else 1


def design_verdict(variant: Variant, profile: str, *, quiet: bool) -> bool:
    """Run one design, print whether it held or was caught; True when as expected."""
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
            print("\nreplayable program (verify.runner.replay):")
            print(replayable_program(result))
    else:
        verdict = "holds" if met else "NOT CAUGHT"
        print(
            f"\n{variant.name}: {verdict}: {result.stats.examples} examples, "
            f"{result.stats.steps} steps, {result.seconds:.1f} s "
            f"({result.steps_per_second:.0f} steps/s)"
        )
    return met


def mutation_table(profile: str, *, equivalent: bool = False, shrink: bool = False) -> bool:
    """Run every mutant; print one row each. True when every counted mutant was killed.

    A mutant is killed at its first failure; the gate does not shrink it (its 'steps' column
    is the failing example as found) unless ``shrink`` asks for short programs to read."""
    rows: list[tuple[str, GateResult, bool]] = []
    print("\nmutants of hardened (verify.mutants):")
    header = (
        f"{'mutant':40} {'kind':4} {'killed':>7} {'examples':>9} {'seconds':>8} "
        f"{'shrunk' if shrink else 'steps':>7}"
        "  broke"
    )
    print(header)
    print("-" * len(header))
    chosen = [(m, True) for m in MUTANTS.values()]
    if equivalent:
        chosen += [(m, False) for m in EQUIVALENT.values()]
    for mutant, counted in chosen:
        result = run_mutant(mutant, profile=profile, shrink=shrink)
        rows.append((mutant.name, result, counted))
        examples = result.stats.first_failure_at if result.failed else result.stats.examples
        broke = result.broken or "-"
        name = mutant.name + ("" if counted else " (equivalent)")
        print(
            f"{name:40} {mutant.kind:4} {'yes' if result.failed else 'NO':>7} {examples!s:>9} "
            f"{result.seconds:8.1f} {result.program_steps if result.failed else '-'!s:>7}  "
            f"{broke}",
            flush=True,
        )
    killed = sum(1 for _, r, counted in rows if counted and r.failed)
    total = sum(1 for _, _, counted in rows if counted)
    print(f"mutation score: {killed}/{total} killed within the {profile} profile")
    return killed == total


def kill_rate_table(profile: str, seeds: range, *, equivalent: bool = False) -> bool:
    """Each mutant under every seed; one row each. True when every counted mutant was
    killed under at least ``TARGET`` of the seeds."""
    print(
        f"\nkill rates of the mutants of hardened ({profile} budget, seeds "
        f"{seeds.start}-{seeds.stop - 1}, derandomize off; a kill counts unshrunk, the first "
        "is shrunk for display)"
    )
    header = (
        f"{'mutant':40} {'kind':4} {'killed':>7} {'median ex.':>10} {'seconds':>8} "
        f"{'shrunk':>6}  broke  survived seeds"
    )
    print(header)
    print("-" * len(header))
    chosen = [(m, True) for m in MUTANTS.values()]
    if equivalent:
        chosen += [(m, False) for m in EQUIVALENT.values()]
    rates: list[tuple[KillRate, bool]] = []
    for mutant, counted in chosen:
        rate = kill_rate(mutant, seeds, profile=profile)
        rates.append((rate, counted))
        shown = rate.shown
        examples = sorted(rate.examples)
        median = str(examples[len(examples) // 2]) if examples else "-"
        name = mutant.name + ("" if counted else " (equivalent)")
        mark = "" if rate.meets_target or not counted else " <"
        steps = shown.program_steps if shown else "-"
        broke = (shown.broken if shown else "") or "-"
        print(
            f"{name:40} {mutant.kind:4} {f'{rate.killed}/{len(rate.seeds)}':>7}{mark} "
            f"{median:>10} {rate.seconds:8.1f} "
            f"{steps!s:>6}  {broke:5}"
            f"  {', '.join(map(str, rate.survived)) or '-'}",
            flush=True,
        )
    counted_rates = [r for r, counted in rates if counted]
    short = [r.mutant for r in counted_rates if not r.meets_target]
    print(
        f"{len(counted_rates) - len(short)}/{len(counted_rates)} mutants killed under "
        f">= {TARGET:.0%} of {len(seeds)} seeds"
        + (f"; below target: {', '.join(short)}" if short else "")
    )
    return not short


def print_bench(profile: str) -> None:
    """Steps per second of the state machine on hardened (a passing run: no shrinking)."""
    result = run_gate(VARIANTS["hardened"], profile=profile)
    stats = result.stats
    print(
        f"bench ({profile}, hardened): {stats.examples} examples, {stats.steps} steps, "
        f"{stats.effects} effects, {stats.checks} checker calls in {result.seconds:.2f} s: "
        f"{result.steps_per_second:.0f} steps/s, {stats.effects / result.seconds:.0f} effects/s, "
        f"{stats.examples / result.seconds:.1f} examples/s"
    )
