"""The bare endpoint for ``payharness bench live``: ``POST /payments`` that only charges
through the live Stripe adapter (``live.stripe_provider.StripeProvider``), with the
client's key passed through. No Redis, no Postgres, no idempotency machinery: the ceiling the
gateway's flows are measured against. Its charges carry no ``merchant`` metadata, so the
audit never counts them.

``python -m loadtests.bare --port 8100`` (provider from ``PAYHARNESS_STRIPE_API_BASE``).
"""

from __future__ import annotations

import argparse
import json

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from core.effects import ProviderCharge


def make_app() -> FastAPI:
    from live.config import LiveConfig
    from live.stripe_provider import StripeProvider

    cfg = LiveConfig.from_env()
    provider = StripeProvider(cfg.stripe_api_base, cfg.stripe_api_key, timeout_s=10.0)
    app = FastAPI(title="payharness bare charge endpoint")

    @app.post("/payments")
    async def pay(request: Request) -> JSONResponse:
        key = request.headers.get("Idempotency-Key") or ""
        try:
            body = json.loads(await request.body())
            effect = ProviderCharge(
                idempotency_key=f"bare:{key}",
                amount=int(body["amount"]),
                currency=str(body["currency"]),
                source=str(body["source"]),
                metadata=(("bench", "bare"), ("order", str(body.get("order", "")))),
            )
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse(
                {"status": "rejected", "code": "invalid", "message": str(exc)}, status_code=400
            )
        try:
            result = await provider.charge(effect)
        except Exception as exc:  # unknown outcome, unavailable, conflict
            return JSONResponse({"status": "pending", "code": type(exc).__name__}, status_code=202)
        status, outcome = (201, "paid") if result.succeeded else (402, "failed")
        return JSONResponse(
            {
                "status": outcome,
                "code": "bare",
                "payment": {
                    "id": result.charge_id,
                    "charge": result.charge_id,
                    "amount": result.amount,
                    "currency": result.currency,
                },
            },
            status_code=status,
        )

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    uvicorn.run(make_app(), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
