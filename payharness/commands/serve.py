"""``payharness serve``: one API server process (FastAPI on uvicorn) bound to loopback."""

from __future__ import annotations

import argparse
import sys

from payharness.usage import UsageError, int_in


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run one payment API server (live stack)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int_in(1, 65535), default=8000)
    p.add_argument(
        "--variant", default=None, help="seed or hardened (default: $PAYHARNESS_VARIANT)"
    )
    p.add_argument("--log-level", default="warning")
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from live.config import ConfigError, LiveConfig
        from live.faultpoints import FaultSpecError
        from live.service import create_app
    except ImportError as exc:
        print(f"serve: live extras missing ({exc}); pip install -e '.[live]'", file=sys.stderr)
        return 2
    try:
        config = LiveConfig.from_env()
        if args.variant:
            config = config.with_changes(variant=args.variant)
        app = create_app(config)
    except (ConfigError, FaultSpecError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=args.access_log,
        timeout_graceful_shutdown=5,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m payharness.commands.serve``, used by the stack launcher and the tests."""
    from payharness.cli import run_command

    return run_command("serve", register, argv)


if __name__ == "__main__":
    sys.exit(main())
