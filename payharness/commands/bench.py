"""``payharness bench``: ``sim`` measures the simulator (requests/s, events/s, ratio to a
bare SimPy loop, optionally the long steady-state run); ``live`` parses the
options of ``loadtests.bench``, runs it and renders its figures with ``reports.bench``."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys

from core.variants import VARIANTS
from payharness.usage import UsageError, int_in, scenario_problem


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("bench", help="benchmarks: the simulator (sim) or the live stack (live)")
    bench_sub = p.add_subparsers(dest="bench_command", metavar="{sim,live,predict}")
    s = bench_sub.add_parser("sim", help="simulated requests/s and events/s vs bare SimPy")
    s.add_argument("--scenario", default="steady_state", help="scenario to time")
    s.add_argument("--variant", default="hardened", choices=sorted(VARIANTS))
    s.add_argument("--payments", type=int_in(1), default=20_000,
                   help="payments in the timed steady run (default 20000)")  # fmt: skip
    s.add_argument(
        "--million",
        action="store_true",
        help="also run the long steady-state scenario (500k payments, each retried once in "
        "the settle phase: 1M requests), history streamed to Parquet; report wall time and "
        "peak memory",
    )
    s.add_argument(
        "--long-payments", type=int_in(1), default=500_000, help="payments in the long run (500000)"
    )
    s.add_argument("--json", action="store_true", help="print figures as JSON too")
    s.set_defaults(func=bench_sim_main)
    # Everything after ``live`` belongs to loadtests.bench: '+' as the only option prefix
    # keeps argparse from reading its ``--options`` here.
    live = bench_sub.add_parser(
        "live",
        help="the live stack's benchmark (loadtests.bench); arguments are passed through",
        prefix_chars="+",
        add_help=False,
    )
    live.add_argument("rest", nargs=argparse.REMAINDER, help="passed to loadtests.bench")
    live.set_defaults(func=bench_live_main)
    predict = bench_sub.add_parser(
        "predict",
        help="calibrate from a short live run, predict knees and p99 with the simulator, "
        "measure the same live; last line 'max knee error N %%'",
    )
    if importlib.util.find_spec("loadtests") is not None:
        from loadtests.bench.predict import add_arguments

        add_arguments(predict)
    predict.set_defaults(func=bench_predict_main)

    def usage(_args: argparse.Namespace) -> int:
        p.error("choose sim, live or predict (payharness bench sim --help)")

    p.set_defaults(func=usage)


def bench_sim_main(args: argparse.Namespace) -> int:
    from sim.bench import (
        LONG_CPU_TARGET_S,
        LONG_RSS_TARGET_MB,
        bench_long,
        bench_sim,
        steady_scenario,
    )
    from sim.scenario import ScenarioError, find

    try:
        if args.scenario == "steady_state":
            scenario = steady_scenario(args.payments)
        else:
            scenario = find(args.scenario)
    except ScenarioError as exc:
        raise UsageError(scenario_problem(exc)) from None
    result = bench_sim(scenario, args.variant)
    print("\n".join(result.lines()))
    figures: dict[str, object] = {
        "requests_per_s": round(result.requests_per_s),
        "events_per_s": round(result.events_per_s),
        "bare_events_per_s": round(result.bare_events_per_s),
        "ratio": round(result.ratio, 3),
        "us_per_request": round(result.us_per_request, 2),
        "floor_us": round(result.floor_us, 2),
        "floor_ratio": round(result.floor_ratio, 3),
    }
    if args.million:
        print(f"long steady-state run: {args.long_payments:,} payments, streaming history ...")
        long = bench_long(args.long_payments, args.variant)
        print(
            f"  {long['requests']:,} requests, {long['events_recorded']:,} history events, "
            f"wall {long['wall_s']} s (simulate {long['sim_wall_s']} s, check "
            f"{long['check_wall_s']} s)\n"
            f"  CPU {long['cpu_s']} s: simulation process {long['sim_cpu_s']} s, Parquet "
            f"process {long['parquet_cpu_s']} s, checking process {long['check_cpu_s']} s\n"
            f"  peak RSS {long['peak_rss_mb']} MB: simulation process "
            f"{long['sim_peak_rss_mb']} MB, Parquet process {long['parquet_peak_rss_mb']} MB, "
            f"checking process {long['check_peak_rss_mb']} MB\n"
            f"  history {long['history_mb']} MB at {long['history']}, "
            f"violations {long['violations']}"
        )
        per_payment = long["peak_rss_mb"] * 1024 / max(1, long["payments"])
        if long["requests"] >= 1_000_000:
            cpu_ok = long["cpu_s"] < LONG_CPU_TARGET_S
            rss_ok = long["peak_rss_mb"] < LONG_RSS_TARGET_MB
            print(
                f"  targets: CPU < {LONG_CPU_TARGET_S:.0f} s {'met' if cpu_ok else 'NOT met'}; "
                f"peak RSS < {LONG_RSS_TARGET_MB:.0f} MB {'met' if rss_ok else 'NOT met'} "
                f"({per_payment:.1f} KB per payment)"
            )
        else:
            print(
                f"  ({per_payment:.1f} KB peak RSS per payment; the targets, CPU < "
                f"{LONG_CPU_TARGET_S:.0f} s and RSS < {LONG_RSS_TARGET_MB:.0f} MB, are for "
                "the default one-million-request run)"
            )
        figures["long"] = long
    if args.json:
        print(json.dumps(figures, indent=2))
    return 0


def bench_live_main(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("loadtests") is None or (
        importlib.util.find_spec("loadtests.bench") is None
    ):
        raise UsageError("live: not available here (loadtests.bench is not installed)")
    import loadtests.bench as bench
    from reports.bench import write_bench_report

    parser = argparse.ArgumentParser(
        prog="payharness bench live",
        description=bench.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_arguments(parser)
    options = parser.parse_args(list(args.rest))
    try:
        outcome = bench.run_bench(options, echo=lambda s: print(s, flush=True))
    except bench.BenchError as exc:
        print(f"bench live: {exc}", file=sys.stderr)
        return 3
    print(write_bench_report(outcome.out_dir, outcome.summary), flush=True)
    return 0


def bench_predict_main(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("loadtests") is None:
        raise UsageError("predict: not available here (loadtests is not installed)")
    from loadtests.bench.predict import run_predict, server_counts
    from loadtests.bench.rig import BenchError
    from reports.bench.predict import write_predict_report

    try:
        server_counts(args.servers)
    except ValueError:
        raise UsageError(
            f"--servers {args.servers!r}: positive integers, comma-separated"
        ) from None
    unknown = [v for v in args.variants.split(",") if v.strip() and v.strip() not in VARIANTS]
    if unknown:
        raise UsageError(f"--variants: unknown {unknown[0]!r}; allowed: " + ", ".join(VARIANTS))
    try:
        out_dir, summary = run_predict(args, echo=lambda s: print(s, flush=True))
    except BenchError as exc:
        print(f"bench predict: {exc}", file=sys.stderr)
        return 3
    print()
    print(write_predict_report(out_dir, summary), end="", flush=True)
    return 0
