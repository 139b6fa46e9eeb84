"""``payharness run``: the main job. Scenarios x variants in the simulator, a verdict table,
minimal traces of violations, and the JSON summary, Parquet histories and report on disk.

Exit status 0 exactly when every run met its scenario's expectations.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

from core.providers import MAIN_PROVIDERS, PROVIDERS
from core.variants import VARIANTS
from live.paths import output_root
from payharness.usage import UsageError, int_in, out_dir, scenario_problem
from reports.sim.verdicts import legend, summary_line, unmet_lines, verdict_table
from sim.runner import RunResult, run_task
from sim.scenario import Scenario, ScenarioError, find, load_all


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="simulate scenarios x variants, check exactly-once, print verdicts, write a report",
        description="Run scenarios (default: all in scenarios/) for each variant (default: "
        "all) in the SimPy world, judge each with the checker, print a verdict table and "
        "write summary.json, Parquet histories and report.md/report.html. Exit 0 exactly "
        "when every expectation held.",
    )
    p.add_argument(
        "scenarios",
        nargs="*",
        metavar="SCENARIO",
        help="a name in scenarios/ (lost_reply or lost_reply.toml) or a .toml path",
    )
    p.add_argument(
        "--variant", action="append", choices=sorted(VARIANTS), help="repeatable; default all"
    )
    p.add_argument(
        "--provider",
        action="append",
        choices=sorted(PROVIDERS),
        help="repeatable; default: " + " and ".join(MAIN_PROVIDERS),
    )
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument(
        "--seed", type=int_in(0), default=None, help="override every scenario's seed"
    )
    seeds.add_argument(
        "--seeds",
        default=None,
        metavar="N|A-B",
        help="a seed swarm: every scenario x variant under seeds 1..N (or A..B); counts per "
        "property, claims judged over all seeds, no histories or report",
    )
    p.add_argument(
        "--dask", default=None, metavar="ADDRESS", help="with --seeds: run on this Dask cluster"
    )
    p.add_argument("--out", type=Path, default=None, help="output folder (default out/run)")
    p.add_argument(
        "--jobs", type=int_in(1), default=None, help="worker processes (default: CPU count)"
    )
    p.add_argument("--no-report", action="store_true", help="skip the Markdown/HTML report")
    p.add_argument("--traces", type=int_in(0), default=1, help="traces printed per run (default 1)")
    p.set_defaults(func=main)


def _load(names: list[str]) -> list[Scenario]:
    try:
        return [find(n) for n in names] if names else load_all()
    except ScenarioError as exc:
        raise UsageError(scenario_problem(exc)) from None


def calibration_lines(scenarios: list[Scenario]) -> list[str]:
    """Which calibration file each calibrated scenario uses, and the run it was fitted from
    (a scenario without one runs on its stated assumptions and says nothing)."""
    return [
        f"{s.name}: calibration {s.calibration.path} (fitted from {s.calibration.run}"
        + (f", {s.calibration.made}" if s.calibration.made else "")
        + ")"
        for s in scenarios
        if s.calibration is not None
    ]


def main(args: argparse.Namespace) -> int:
    scenarios = _load(args.scenarios)
    if not scenarios:
        raise UsageError("no scenarios found")
    for line in calibration_lines(scenarios):
        print(line)
    variants = args.variant or list(VARIANTS)
    providers = args.provider or list(MAIN_PROVIDERS)
    if args.seeds is not None:
        return _seed_swarm(args, scenarios, variants, providers)
    if args.dask is not None:
        raise UsageError("--dask needs --seeds")
    out = out_dir(args.out if args.out is not None else output_root() / "run")
    tasks = [(s, v, p) for s in scenarios for v in variants for p in providers]
    stale = _stale_runs(out, tasks)
    jobs = args.jobs or min(len(tasks), os.cpu_count() or 1)
    started = time.perf_counter()
    results = _execute(tasks, args.seed, out, jobs)
    wall = time.perf_counter() - started
    order = {(s.name, v, p): i for i, (s, v, p) in enumerate(tasks)}
    results.sort(key=lambda r: order[(r.summary["scenario"], r.summary["variant"], _provider(r))])

    _print_traces(results, args.traces)
    summaries = [r.summary for r in results]
    (out / "summary.json").write_text(
        json.dumps(summaries, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    )
    covers = _covers(scenarios, variants, providers, stale)
    if not args.no_report:
        from reports.sim.render import write_report

        traces = {
            (r.summary["scenario"], r.summary["variant"], _provider(r)): _trace_lines(r, 3)
            for r in results
        }
        figures = _figures(out, results, jobs)
        descriptions = {s.name: s.description for s in scenarios}
        md, html = write_report(out, results, descriptions, traces, figures, notes=covers)
        print(f"\nreport: {md} and {html}")
    events = sum(r.events for r in results)
    print(
        f"{events} events simulated in {wall:.1f} s wall ({jobs} processes); "
        f"summary: {out / 'summary.json'} (this run's {len(results)} runs only)"
    )
    for line in covers[1:]:
        print(f"note: {line}")
    print()
    print(verdict_table(summaries))
    print()
    print(legend())
    unmet = unmet_lines(summaries)
    if unmet:
        print()
        print("\n".join(unmet))
    print()
    print(summary_line(summaries))
    return 0 if all(r.met for r in results) else 1


def _stale_runs(out: Path, tasks: list[tuple[Scenario, str, str]]) -> list[str]:
    """Run folders in ``out`` left by earlier invocations that this one will not rewrite."""
    ours = {
        out / s.name / v / ("summary.json" if p == "stripe" else f"{p}/summary.json")
        for s, v, p in tasks
    }
    found = {*out.glob("*/*/summary.json"), *out.glob("*/*/*/summary.json")}
    return sorted(str(f.parent.relative_to(out)) for f in found - ours)


def _covers(
    scenarios: list[Scenario], variants: list[str], providers: list[str], stale: list[str]
) -> list[str]:
    """What this run's summary and report cover, and what in the folder is older."""
    lines = [
        f"This run covers {len(scenarios)} scenarios ({', '.join(s.name for s in scenarios)}) "
        f"x variants {', '.join(variants)} x providers {', '.join(providers)}."
    ]
    if stale:
        shown = ", ".join(stale[:6]) + (f" and {len(stale) - 6} more" if len(stale) > 6 else "")
        lines.append(
            f"{len(stale)} run folders here are from earlier runs, not this one, and are not "
            f"in summary.json or the report: {shown}"
        )
    return lines


def _provider(result: RunResult) -> str:
    return str(result.summary.get("provider", "stripe"))


def _execute(
    tasks: list[tuple[Scenario, str, str]], seed: int | None, out: Path, jobs: int
) -> list[RunResult]:
    bar = tqdm(total=len(tasks), desc="simulating", unit="run", file=sys.stderr)
    results: list[RunResult] = []
    try:
        if jobs <= 1:
            for scenario, variant, provider in tasks:
                bar.set_postfix_str(f"{scenario.name}/{variant}/{provider}")
                results.append(run_task(scenario.file, variant, seed, str(out), provider=provider))
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futures = [
                    pool.submit(run_task, scenario.file, variant, seed, str(out), provider=provider)
                    for scenario, variant, provider in tasks
                ]
                for future in as_completed(futures):
                    result = future.result()
                    bar.set_postfix_str(f"{result.summary['scenario']}/{result.summary['variant']}")
                    results.append(result)
                    bar.update()
    finally:
        bar.close()
    return results


def _figures(out: Path, results: list[RunResult], jobs: int) -> dict[str, list[Path]]:
    """Each scenario's figures, drawn in parallel (matplotlib is the slow part of a report)."""
    from reports.sim.render import scenario_figures

    groups: dict[str, list[RunResult]] = {}
    for r in results:
        groups.setdefault(r.summary["scenario"], []).append(r)
    if jobs <= 1 or len(groups) <= 1:
        return {n: scenario_figures(n, g, out) for n, g in groups.items()}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {n: pool.submit(scenario_figures, n, g, out) for n, g in groups.items()}
        return {n: f.result() for n, f in futures.items()}


def _trace_lines(result: RunResult, limit: int) -> list[str]:
    lines: list[str] = []
    seen: set[str] = set()
    for v in result.verdict.violations:
        if v.prop in seen:
            continue
        seen.add(v.prop)
        lines += v.render().splitlines()
        if len(seen) >= limit:
            break
    return lines


def _print_traces(results: list[RunResult], per_run: int) -> None:
    for r in results:
        if not r.verdict.violations or per_run <= 0:
            continue
        s = r.summary
        print(
            f"\n== {s['scenario']} / {s['variant']} / {_provider(r)}: {s['violations']} violations "
            f"({'expected' if s['expectation']['met'] else 'NOT expected'}); minimal trace:"
        )
        for v in r.verdict.violations[:per_run]:
            print(v.render())


def _seed_swarm(
    args: argparse.Namespace, scenarios: list[Scenario], variants: list[str], providers: list[str]
) -> int:
    from reports.sim.seed_table import (
        LEGEND,
        broken_lines,
        refutation_lines,
        seed_table,
        summary_line,
    )
    from sim.seed_swarm import run_seed_swarm
    from sim.seeds import parse_seeds

    try:
        seeds = parse_seeds(args.seeds)
    except ValueError as exc:
        problem = str(exc)
        raise UsageError(
            f"--{problem}" if problem.startswith("seeds ") else f"--seeds: {problem}"
        ) from None
    out = out_dir(args.out if args.out is not None else output_root() / "run-seeds")
    tasks = [(s, v, p) for s in scenarios for v in variants for p in providers]
    jobs = args.jobs or os.cpu_count() or 1
    print(
        f"seed swarm: {len(scenarios)} scenarios x {len(variants)} variants x "
        f"{len(providers)} providers x seeds "
        f"{seeds.start}..{seeds.stop - 1} = {len(tasks) * len(seeds):,} runs",
        file=sys.stderr,
    )
    started = time.perf_counter()
    with tqdm(total=len(tasks) * len(seeds), desc="simulating", unit="run", file=sys.stderr) as bar:
        tallies = run_seed_swarm(
            tasks, seeds, jobs=jobs, dask_address=args.dask, progress=bar.update
        )
    wall = time.perf_counter() - started
    (out / "seeds.json").write_text(
        json.dumps(
            {"seeds": [seeds.start, seeds.stop - 1], "tallies": [t.to_dict() for t in tallies]},
            sort_keys=True,
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )
    broken = broken_lines(tallies)
    if broken:
        print("broken properties:")
        print("\n".join(f"  {line}" for line in broken))
    refuted = refutation_lines(tallies)
    if refuted:
        print("\nclaims refuted:")
        print("\n".join(f"  {line}" for line in refuted))
    print()
    print(seed_table(tallies))
    print(LEGEND)
    print(f"{summary_line(tallies)} in {wall:.1f} s wall ({jobs} processes); {out / 'seeds.json'}")
    return 0 if all(t.met for t in tallies) else 1
