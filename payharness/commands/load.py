"""``payharness load``: drive the live stack with Locust, inject live faults, audit, report.

Brings the stack up when it is not (its own Postgres schema and Redis key prefix, taken down
afterwards), runs Locust headless with a live progress line (or ``--workers K`` as a master
and K workers, or ``--ui`` with Locust's web page), heals, reconciles, retries keys in a
settle round, runs the exactly-once audit and writes the report. Exits 1 when the audit
fails, 2 on a usage error, 3 when the stack cannot start.
"""

from __future__ import annotations

import argparse
import signal
import sys

from core.variants import VARIANTS
from loadtests.settings import FAULT_KINDS, SHAPES
from payharness.usage import UsageError, int_in, number_in, plain


def _duration(text: str) -> float:
    """``90``, ``90s``, ``2m``, ``1h``."""
    text = text.strip().lower()
    scale = {"s": 1.0, "m": 60.0, "h": 3600.0}
    if text and text[-1] in scale:
        return float(text[:-1]) * scale[text[-1]]
    return float(text)


_duration.__name__ = "duration"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "load",
        help="Locust load (and live faults) against the stack, then the audit and the report",
        description=plain(__doc__ or ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--users", type=int_in(1), default=20, help="peak users (default 20)")
    p.add_argument(
        "--spawn-rate", type=number_in(0, above=True), default=10.0, help="users started per second"
    )
    p.add_argument("--duration", type=_duration, default=60.0, help="e.g. 60, 90s, 2m")
    p.add_argument("--shape", choices=SHAPES, default="steady")
    p.add_argument(
        "--faults",
        default="",
        help=f"comma list of {', '.join(FAULT_KINDS)}, or 'all' (default: none)",
    )
    p.add_argument("--workers", type=int_in(0), default=0, help="Locust master + K local workers")
    p.add_argument("--ui", action="store_true", help="keep Locust's web UI on 127.0.0.1:8089")
    p.add_argument("--pace", type=float, default=1.0, help="seconds per scenario per user")
    p.add_argument("--timeout", type=float, default=5.0, help="client timeout, seconds")
    p.add_argument(
        "--weights",
        default="",
        help="user mix, e.g. payer=10,retrier=4,double_tapper=2,key_reuser=1,"
        "new_key_after_failure=2,snooper=1",
    )
    p.add_argument(
        "--mock-fault-rate",
        type=float,
        default=0.01,
        help="share of payments using tok_500/tok_429 under the 'mock' fault (default 0.01; "
        "each such row is resolved by a provider lookup, which lists every charge)",
    )
    p.add_argument("--step-users", type=int, default=0, help="step shape: users per step")
    p.add_argument("--step-seconds", type=float, default=15.0, help="step shape: step length")
    p.add_argument("--slo-ms", type=float, default=250.0, help="p99 SLO for the knee")
    p.add_argument("--fault-every", default="6,12", help="seconds between faults: MIN,MAX")
    p.add_argument(
        "--servers", type=int_in(1, 64), default=3, help="API servers when starting the stack"
    )
    p.add_argument("--base-port", type=int_in(1, 65535), default=8000)
    p.add_argument("--mock-port", type=int_in(1, 65535), default=12111)
    p.add_argument("--variant", default="hardened", help="variant when starting the stack")
    p.add_argument(
        "--variant-overrides",
        default="",
        help="when starting the stack: variant knobs, e.g. stale_after_ms=10000 (resolve rows "
        "left by a killed server sooner)",
    )
    p.add_argument("--settle-timeout", type=float, default=240.0, help="reconcile deadline, s")
    p.add_argument("--keep-stack", action="store_true", help="leave a stack this run started")
    p.add_argument("--stub", action="store_true", help="in-memory stand-in, no live stack")
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from loadtests.run import LoadOptions, parse_faults, parse_weights, run_load
    from loadtests.stack import StackError

    unknown = sorted({v.strip() for v in args.variant.split(",")} - set(VARIANTS))
    if unknown:
        raise UsageError(f"--variant: unknown {unknown[0]!r}; known: {', '.join(VARIANTS)}")

    try:
        lo, hi = (float(x) for x in args.fault_every.split(","))
        if not 0 < lo <= hi:
            raise ValueError
    except ValueError:
        raise UsageError(
            f"--fault-every {args.fault_every!r}: allowed: MIN,MAX seconds, 0 < MIN <= MAX"
        ) from None
    try:
        faults = parse_faults(args.faults)
    except ValueError as exc:
        raise UsageError(f"--faults: {exc}") from None
    try:
        weights = parse_weights(args.weights)
    except ValueError as exc:
        raise UsageError(f"--weights: {exc}") from None
    try:
        opts = LoadOptions(
            users=args.users,
            spawn_rate=args.spawn_rate,
            duration_s=args.duration,
            shape=args.shape,
            faults=faults,
            workers=args.workers,
            ui=args.ui,
            servers=args.servers,
            base_port=args.base_port,
            mock_port=args.mock_port,
            variant=args.variant,
            variant_overrides=args.variant_overrides,
            stub=args.stub,
            pace_s=args.pace,
            timeout_s=args.timeout,
            weights=weights,
            mock_fault_rate=args.mock_fault_rate,
            step_users=args.step_users,
            step_s=args.step_seconds,
            slo_ms=args.slo_ms,
            fault_every_s=(lo, hi),
            settle_timeout_s=args.settle_timeout,
            keep_stack=args.keep_stack,
            seed=args.seed,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None

    def _stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # unwind: the stack this run started is taken down

    signal.signal(signal.SIGTERM, _stop)
    try:
        result = run_load(opts, echo=lambda s: print(s, flush=True))
    except StackError as exc:
        print(f"load: {exc}", file=sys.stderr)
        return 3
    from reports.load import build_report

    print(f"report: {build_report(result.run_dir)}", flush=True)
    for note in result.notes:
        print(f"note: {note}")
    return result.exit_code
