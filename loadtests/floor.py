"""The HTTP stack's floor for ``payharness bench predict`` (issue 19 item 5): what the same
uvicorn/FastAPI server costs per request before any payment logic, one layer at a time, all
in one process so a calibration run measures them on one server beside a bare charge and a
replay.

Each route answers ``POST .../payments`` (the bench's generator posts there) with a small
JSON body, as a replay does:

- ``/empty/payments``: nothing but the route;
- ``/auth/payments``: plus the bearer-key check (``live.merchant_keys.authenticate``: one
  Postgres read, as every payment request of the service makes);
- ``/observed/payments``: plus the service's metrics and log wrapper (``live.observe``) and
  the lookup timed as the service times it;
- ``/redis/payments``: the empty route, the key check and one Redis ``GET`` of the
  idempotency key through the live adapter (``RedisStore.cache_get``): the least a replay
  can do with this HTTP stack, the design's floor (no metrics, no log line).

``python -m loadtests.floor --port 8200`` (backends from the ``PAYHARNESS_*`` environment,
as the service's).
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

ROUTES = ("empty", "auth", "observed", "redis")
"""The floor's layers, cheapest first (the bench's phases of endpoint ``floor``)."""

Scope = MutableMapping[str, Any]
ASGI = Callable[[Scope, Any, Any], Awaitable[None]]

_BODY = {"status": "paid", "code": "floor", "message": ""}


def make_app() -> ASGI:
    """The floor's routes behind one ASGI callable (what uvicorn serves)."""
    return make_apps()[1]


def make_apps() -> tuple[FastAPI, ASGI]:
    """The FastAPI app (its lifespan opens the backends) and the dispatcher in front of it."""
    from live.config import LiveConfig
    from live.merchant_keys import authenticate, bearer_token
    from live.observe import ObservedApp
    from live.service import timed
    from live.transport import LiveTransport

    cfg = LiveConfig.from_env()
    state: dict[str, LiveTransport] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        transport = LiveTransport(cfg)
        await transport.open()
        state["transport"] = transport
        try:
            yield
        finally:
            await transport.close()

    app = FastAPI(title="payharness HTTP floor", lifespan=lifespan)

    async def merchant(request: Request) -> str | None:
        token = bearer_token(request.headers.getlist("authorization"))
        return await authenticate(state["transport"].postgres.query, token)

    def answer(found: str | None) -> JSONResponse:
        if found is None:
            return JSONResponse({"code": "unauthorized", "message": ""}, status_code=401)
        return JSONResponse(_BODY, status_code=201)

    @app.post("/empty/payments")
    async def empty() -> JSONResponse:
        return JSONResponse(_BODY, status_code=201)

    @app.post("/auth/payments")
    async def auth(request: Request) -> JSONResponse:
        return answer(await merchant(request))

    @app.post("/observed/payments")
    async def observed(request: Request) -> JSONResponse:
        token = bearer_token(request.headers.getlist("authorization"))
        query = state["transport"].postgres.query
        return answer(await timed("Authenticate", authenticate(query, token)))

    @app.post("/redis/payments")
    async def redis_get(request: Request) -> JSONResponse:
        found = await merchant(request)
        if found is not None:
            key = request.headers.get("idempotency-key") or ""
            await state["transport"].redis.cache_get(f"floor:{found}:{key}")
        return answer(found)

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    wrapped = ObservedApp(app)

    async def dispatch(scope: Scope, receive: Any, send: Any) -> None:
        """``/observed/...`` through the metrics and log wrapper, the rest straight in (the
        lifespan goes to the app)."""
        if scope["type"] == "http" and str(scope.get("path", "")).startswith("/observed/"):
            await wrapped(scope, receive, send)
        else:
            await app(scope, receive, send)

    return app, dispatch


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    # as ``payharness serve`` runs the service (``payharness.commands.serve``)
    uvicorn.run(
        make_app(),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
