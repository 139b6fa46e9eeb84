"""A stand-in for the live stack over the in-memory models: the HTTP contract, no servers.

``python -m loadtests.stub --ports 18101,18102`` serves ``POST /payments`` and
``GET /payments/{id}`` on each port from one shared in-memory world (the ``hardened``
variant by default), plus ``/_stub/final`` (the final state for the audit) and
``/_stub/reconcile``. It lets the load harness, the audit and the report be exercised end to
end where the live stack cannot run; it proves nothing about Redis, Postgres or Stripe.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from core.domain import PaymentRequest, ValidationError, validate_idempotency_key
from core.history import FinalState, ListedCharge
from core.runtime.sync import MemoryRuntime
from core.runtime.world import World
from core.variants import VARIANTS


def make_app(variant: str = "hardened", latency_ms: float = 2.0) -> FastAPI:
    world = World(VARIANTS[variant], record_effects=False)
    world.history.keep = False
    runtime = MemoryRuntime(world)
    started = time.monotonic()
    app = FastAPI(title="payharness stub")

    def tick() -> None:
        now = int((time.monotonic() - started) * 1000)
        if now > world.clock.now:
            world.clock.advance(now - world.clock.now)

    @app.post("/payments")
    async def pay(request: Request) -> JSONResponse:
        tick()
        key = request.headers.get("Idempotency-Key")
        try:
            validate_idempotency_key(key)
            body = await request.json()
            assert key is not None
            pr = PaymentRequest.from_json(body, key)
        except (ValidationError, ValueError) as exc:
            return JSONResponse(
                {"status": "rejected", "code": "invalid_request", "message": str(exc)},
                status_code=400,
            )
        await asyncio.sleep(latency_ms / 1000)
        response = runtime.submit(pr)
        assert response is not None
        headers = {"Idempotent-Replayed": "true"} if response.replayed else {}
        if response.retry_after_s:
            headers["Retry-After"] = str(response.retry_after_s)
        return JSONResponse(response.body(), status_code=response.status, headers=headers)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/_stub/reconcile")
    async def reconcile() -> dict[str, int]:
        tick()
        report = runtime.reconcile()
        return {"examined": report.examined if report else -1}

    @app.get("/_stub/final")
    async def final() -> dict[str, Any]:
        return final_to_json(world.final_state())

    return app


def final_to_json(final: FinalState) -> dict[str, Any]:
    def payment(p: Any) -> dict[str, Any]:
        return {
            "id": p.id,
            "merchant": p.merchant,
            "order": p.order,
            "idempotency_key": p.idempotency_key,
            "amount": p.amount,
            "currency": p.currency,
            "source": p.source,
            "fingerprint": p.fingerprint,
            "provider_key": p.provider_key,
            "state": str(p.state),
            "created_ms": p.created_ms,
            "charge_id": p.charge_id,
            "error": p.error,
        }

    return {
        "payments": [payment(p) for p in final.payments],
        "orders": [[m, o, pid] for (m, o), pid in final.orders.items()],
        "charges": [
            {
                "id": c.id,
                "amount": c.amount,
                "currency": c.currency,
                "succeeded": c.succeeded,
                "merchant": c.merchant,
                "key": c.key,
                "order": c.order,
                "provider_key": c.provider_key,
                "source": c.source,
                "created_ms": c.created_ms,
            }
            for c in final.charges
        ],
    }


def final_from_json(data: dict[str, Any]) -> FinalState:
    from core.domain import Payment, PaymentState

    payments = tuple(Payment(**{**p, "state": PaymentState(p["state"])}) for p in data["payments"])
    return FinalState(
        payments=payments,
        orders={(m, o): pid for m, o, pid in data["orders"]},
        charges=tuple(ListedCharge(**c) for c in data["charges"]),
    )


async def serve(ports: list[int], variant: str) -> None:
    import uvicorn

    app = make_app(variant)
    servers = [
        uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=p, log_level="warning"))
        for p in ports
    ]
    await asyncio.gather(*(s.serve() for s in servers))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ports", default="18101,18102")
    parser.add_argument("--variant", default="hardened")
    args = parser.parse_args(argv)
    ports = [int(p) for p in args.ports.split(",")]
    print(json.dumps({"targets": [f"http://127.0.0.1:{p}" for p in ports]}), flush=True)
    asyncio.run(serve(ports, args.variant))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
