"""``payharness reconcile [--once | --every S]``: resolve RECONCILE and stale rows."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from payharness.usage import UsageError, int_in, number_in


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("reconcile", help="resolve RECONCILE and stale PENDING/PROCESSING payments")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="one run, then exit (default)")
    mode.add_argument(
        "--every", type=number_in(0, above=True), metavar="S", help="a run every S seconds"
    )
    p.add_argument(
        "--variant", default=None, help="seed or hardened (default: $PAYHARNESS_VARIANT)"
    )
    p.add_argument(
        "--stale-after-ms",
        type=int_in(0),
        default=None,
        help="treat PENDING/PROCESSING rows older than this as abandoned (default: the variant's)",
    )
    p.add_argument("--max-runs", type=int_in(1), default=None, help="stop after this many runs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.effects import Unavailable
    from live.config import ConfigError, LiveConfig
    from live.metrics import mark_exited
    from live.reconciler import reconcile_every, reconcile_once
    from live.transport import LiveTransport

    try:
        config = LiveConfig.from_env()
        if args.variant:
            config = config.with_changes(variant=args.variant)
        variant = config.resolve_variant()
    except (ConfigError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    if args.stale_after_ms is not None:
        variant = variant.with_changes(
            variant.name, variant.summary, stale_after_ms=args.stale_after_ms
        )

    async def main() -> int:
        transport = LiveTransport(config, variant)
        try:
            await transport.open()
        except Unavailable as exc:
            print(f"reconcile: {exc} (PAYHARNESS_DATABASE_URL)", file=sys.stderr)
            return 1
        try:
            if args.every is None:
                report = await reconcile_once(transport, variant)
                print(f"reconcile ({variant.name}): {report.summary()}")
                return 0
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            runs = await reconcile_every(
                transport, args.every, variant, max_runs=args.max_runs, stop=stop
            )
            print(f"reconcile ({variant.name}): stopped after {runs} runs", file=sys.stderr)
            return 0
        finally:
            await transport.close()
            mark_exited()

    return asyncio.run(main())


def main(argv: list[str] | None = None) -> int:
    """``python -m payharness.commands.reconcile``, used by the stack launcher and the tests."""
    from payharness.cli import run_command

    return run_command("reconcile", register, argv)


if __name__ == "__main__":
    sys.exit(main())
