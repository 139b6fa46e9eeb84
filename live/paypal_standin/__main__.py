"""``python -m live.paypal_standin --port N [--search-lag-ms MS] [--simultaneous fail|wait]``:
the PayPal stand-in on 127.0.0.1 (never another interface). The client secret it accepts is
``PAYHARNESS_PAYPAL_CLIENT_SECRET`` (kept off the command line)."""

from __future__ import annotations

import argparse
import os

import uvicorn

from live.paypal_standin.app import StandinSettings, create_app, settings_from


def main(argv: list[str] | None = None) -> None:
    defaults = StandinSettings()
    parser = argparse.ArgumentParser(prog="python -m live.paypal_standin")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--simultaneous", choices=["fail", "wait"], default=defaults.simultaneous)
    parser.add_argument("--search-lag-ms", type=int, default=defaults.search_lag_ms)
    parser.add_argument("--processing-ms", type=int, default=defaults.processing_ms)
    parser.add_argument("--client-id", default=defaults.client_id)
    secret = os.environ.get("PAYHARNESS_PAYPAL_CLIENT_SECRET", defaults.client_secret)
    parser.add_argument("--client-secret", default=secret, help="default: the env variable")
    args = parser.parse_args(argv)
    settings = settings_from(
        {
            "simultaneous": args.simultaneous,
            "search_lag_ms": str(args.search_lag_ms),
            "processing_ms": str(args.processing_ms),
            "client_id": args.client_id,
            "client_secret": args.client_secret,
        }
    )
    uvicorn.run(
        create_app(settings), host="127.0.0.1", port=args.port, log_level="warning",
        access_log=False,
    )  # fmt: skip


if __name__ == "__main__":
    main()
