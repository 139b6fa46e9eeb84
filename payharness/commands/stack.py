"""``payharness stack up [--servers N] | status | down``: the live stack on this machine.

The work is ``live.stack``'s (``bring_up``, ``stack_status``, ``take_down``); this module
parses the options and prints what it returns. State and logs are under ``out/stack/``.
"""

from __future__ import annotations

import argparse
import os
import sys

from core.variants import VARIANTS
from payharness.usage import UsageError, int_in, number_in


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("stack", help="start, inspect or stop the live stack")
    ssub = p.add_subparsers(dest="stack_command", metavar="STACK_COMMAND")
    up = ssub.add_parser("up", help="start the mock, N API servers and the reconciler")
    up.add_argument(
        "--servers", type=int_in(1, 64), default=3, help="API server processes (default 3)"
    )
    up.add_argument(
        "--base-port", type=int_in(1, 65535), default=8000, help="first server port (default 8000)"
    )
    up.add_argument(
        "--mock-port", type=int_in(1, 65535), default=12111, help="Stripe mock port (default 12111)"
    )
    up.add_argument(
        "--variant",
        default="hardened",
        help="variant served: one name for all servers, or a comma list, one per server "
        "(e.g. seed,hardened,hardened)",
    )
    up.add_argument(
        "--stripe-api-base",
        default=None,
        help="use this Stripe API instead of starting the mock (stripe-mock, a test account)",
    )
    up.add_argument(
        "--stateless-provider",
        action="store_true",
        help="the provider cannot list charges: the audit counts the adapters' call logs",
    )
    up.add_argument(
        "--provider",
        choices=["stripe", "paypal", "paypal-wait"],
        default=None,
        help="payment provider: stripe (the mock) or paypal/paypal-wait (the PayPal stand-in); "
        "default $PAYHARNESS_PROVIDER or stripe",
    )
    up.add_argument(
        "--paypal-port",
        type=int_in(1, 65535),
        default=12112,
        help="PayPal stand-in port (default 12112)",
    )
    up.add_argument(
        "--paypal-search-lag-ms",
        type=int_in(0),
        default=None,
        help="the stand-in's transaction-search lag (default PayPal's 3 h)",
    )
    up.add_argument(
        "--reconcile-every", type=number_in(0, above=True), default=5.0, help="seconds (default 5)"
    )
    up.add_argument("--no-reconciler", action="store_true")
    up.add_argument("--access-log", action="store_true", help="servers log every request")
    up.set_defaults(func=cmd_up)
    st = ssub.add_parser("status", help="show what `up` started and whether it is alive")
    st.set_defaults(func=cmd_status)
    down = ssub.add_parser("down", help="stop exactly what `up` started")
    down.set_defaults(func=cmd_down)
    p.set_defaults(func=lambda a: p.error("choose up, status or down"))


def cmd_up(args: argparse.Namespace) -> int:
    unknown = sorted({v.strip() for v in args.variant.split(",")} - set(VARIANTS))
    if unknown:
        raise UsageError(f"--variant: unknown {unknown[0]!r}; known: {', '.join(VARIANTS)}")
    from live.stack import (
        StackAlreadyUp,
        StackOptions,
        StackUpError,
        StackUsageError,
        bring_up,
        up_summary,
    )

    options = StackOptions(
        servers=args.servers,
        base_port=args.base_port,
        mock_port=args.mock_port,
        variant=args.variant,
        stripe_api_base=args.stripe_api_base,
        stateless_provider=args.stateless_provider,
        reconcile_every_s=args.reconcile_every,
        provider=args.provider,
        paypal_port=args.paypal_port,
        paypal_search_lag_ms=args.paypal_search_lag_ms,
        reconciler=not args.no_reconciler,
        access_log=args.access_log,
    )
    try:
        state = bring_up(options, os.environ, echo=lambda s: print(s, flush=True))
    except StackAlreadyUp as exc:
        print(f"stack: {exc}")
        return 1
    except StackUsageError as exc:
        print(f"stack: {exc}", file=sys.stderr)
        return 2
    except StackUpError as exc:
        print(f"stack: {exc}", file=sys.stderr)
        return 1
    print("\n".join(up_summary(state, os.environ)))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from live.stack import stack_status

    status = stack_status(os.environ)
    print("\n".join(status.lines))
    return 0 if status.ok else 1


def cmd_down(args: argparse.Namespace) -> int:
    from live.stack import take_down

    print("\n".join(take_down(os.environ)))
    return 0
