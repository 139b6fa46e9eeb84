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
from typing import Any

from tqdm import tqdm

from core.providers import MAIN_PROVIDERS, PROVIDERS
from core.variants import VARIANTS
from live.paths import output_root
from sim.runner import RunResult, run_task
from sim.scenario import Scenario, ScenarioError, find, load_all

PROPS = ("E1", "E2", "E3", "E4", "E5", "E6", "E7", "T")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="simulate scenarios x variants, check exactly-once, print verdicts, write a report",
        description="Run scenarios (default: all in scenarios/) for each variant (default: "
        "all) in the SimPy world, judge each with the checker, print a verdict table and "
        "write summary.json, Parquet histories and report.md/report.html. Exit 0 exactly "
        "when every expectation held.",
    )
    p.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="name or .toml path")
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
    seeds.add_argument("--seed", type=int, default=None, help="override every scenario's seed")
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
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: CPU count)")
    p.add_argument("--no-report", action="store_true", help="skip the Markdown/HTML report")
    p.add_argument("--traces", type=int, default=1, help="traces printed per run (default 1)")
    p.set_defaults(func=main)


def _load(names: list[str]) -> list[Scenario]:
    return [find(n) for n in names] if names else load_all()


def main(args: argparse.Namespace) -> int:
    try:
        scenarios = _load(args.scenarios)
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not scenarios:
        print("error: no scenarios found", file=sys.stderr)
        return 2
    variants = args.variant or list(VARIANTS)
    providers = args.provider or list(MAIN_PROVIDERS)
    if args.seeds is not None:
        return _seed_swarm(args, scenarios, variants, providers)
    if args.dask is not None:
        print("error: --dask needs --seeds", file=sys.stderr)
        return 2
    out: Path = args.out if args.out is not None else output_root() / "run"
    out.mkdir(parents=True, exist_ok=True)
    tasks = [(s, v, p) for s in scenarios for v in variants for p in providers]
    jobs = args.jobs or min(len(tasks), os.cpu_count() or 1)
    started = time.perf_counter()
    results = _execute(tasks, args.seed, out, jobs)
    wall = time.perf_counter() - started
    order = {(s.name, v, p): i for i, (s, v, p) in enumerate(tasks)}
    results.sort(key=lambda r: order[(r.summary["scenario"], r.summary["variant"], _provider(r))])

    print(verdict_table(results))
    _print_traces(results, args.traces)
    summaries = [r.summary for r in results]
    (out / "summary.json").write_text(
        json.dumps(summaries, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    )
    if not args.no_report:
        from reports.sim.render import write_report

        traces = {
            (r.summary["scenario"], r.summary["variant"]): _trace_lines(r, 3) for r in results
        }
        figures = _figures(out, results, jobs)
        descriptions = {s.name: s.description for s in scenarios}
        md, html = write_report(out, results, descriptions, traces, figures)
        print(f"report: {md} and {html}")
    met = sum(1 for r in results if r.met)
    events = sum(r.events for r in results)
    print(
        f"{met}/{len(results)} runs met their expectations; {events} events simulated in "
        f"{wall:.1f} s wall ({jobs} processes); summary: {out / 'summary.json'}"
    )
    return 0 if met == len(results) else 1


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


def _figures(out: Path, results: list[RunResult], jobs: int) -> dict[str, Path]:
    """One figure per scenario, drawn in parallel (matplotlib is the slow part of a report)."""
    from reports.sim.render import figure_path, scenario_figure

    groups: dict[str, list[RunResult]] = {}
    for r in results:
        groups.setdefault(r.summary["scenario"], []).append(r)
    if jobs <= 1 or len(groups) <= 1:
        return {n: scenario_figure(n, g, figure_path(out, n)) for n, g in groups.items()}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {
            n: pool.submit(scenario_figure, n, g, figure_path(out, n)) for n, g in groups.items()
        }
        return {n: f.result() for n, f in futures.items()}


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"
    return str(value)


def verdict_table(results: list[RunResult]) -> str:
    header = ["scenario", "variant", "provider", "requests", "charges", *PROPS, "p50 ms", "p99 ms",
              "paid/s", "expected"]  # fmt: skip
    rows = [header]
    for r in results:
        s = r.summary
        marks = {"holds": "ok", "BROKEN": "BROKEN"}
        rows.append(
            [
                s["scenario"],
                s["variant"],
                _provider(r),
                str(s["requests"]),
                str(s["provider_charges"]),
                *(marks.get(s["properties"][p], "-") for p in PROPS),
                _fmt(s["latency_ms"]["p50"]),
                _fmt(s["latency_ms"]["p99"]),
                _fmt(s["throughput_per_s"]),
                "met" if s["expectation"]["met"] else "NOT MET",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


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
        print(f"error: --seeds {exc}", file=sys.stderr)
        return 2
    out: Path = args.out if args.out is not None else output_root() / "run-seeds"
    out.mkdir(parents=True, exist_ok=True)
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
