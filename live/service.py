"""The HTTP service: ``POST /payments`` with IETF Idempotency-Key semantics over the core flow.

Every payment operation needs ``Authorization: Bearer <key>`` (``live.merchant_keys``): the
merchant is the key's. Status codes (draft-ietf-httpapi-idempotency-key-header, RFC 6750,
Stripe's conventions):

- 401 with ``WWW-Authenticate: Bearer`` for a missing, unknown, malformed or revoked key;
- 403 ``merchant_mismatch`` when the body names another merchant than the key's (a body
  without ``merchant`` takes the key's);
- 404 from ``GET /payments/{id}`` for another merchant's payment, as for no payment at all;
- 400 missing or malformed ``Idempotency-Key``, or an invalid body (``{code, message}``);
- 201 a new payment; the same status and body with ``Idempotent-Replayed: true`` for a replay;
- 202 accepted, the outcome is unknown and will be reconciled (retry with the same key);
- 402 declined (final);
- 409 with ``Retry-After`` while a request with the same key is in flight;
- 422 the key was first used with another payload;
- 503 a backend is unavailable and nothing final was decided.

The flow, not this module, decides all of the above; this module only parses, runs
``core.flows.payment.payment_flow`` on ``LiveTransport`` and renders the ``Response``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.currencies import ISO_4217
from core.domain import MAX_AMOUNT, MAX_KEY_LENGTH, Response
from core.effects import Fault
from core.flows.payment import payment_flow
from core.runtime.async_runner import run_async
from core.variants import Variant
from live.config import LiveConfig
from live.faultpoints import FaultPoints
from live.merchant_keys import authenticate, bearer_token
from live.transport import LiveTransport
from live.validation import (
    ANY_TEXT_PATTERN,
    ID_PATTERN,
    MAX_BODY_BYTES,
    MAX_FIELD_LENGTH,
    MAX_ID_LENGTH,
    MAX_METADATA_ITEMS,
    MAX_METADATA_KEY,
    MAX_METADATA_VALUE,
    TEXT_PATTERN,
    RequestRejected,
    check_content_type,
    key_from_headers,
    parse_body,
    payment_id_could_exist,
    read_limited,
)

log = logging.getLogger("payharness.service")

READY_TIMEOUT_S = 3.0

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
}
PAYMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "merchant": {"type": "string"},
        "order": {"type": "string"},
        "amount": {"type": "integer"},
        "currency": {"type": "string"},
        "charge": {"type": ["string", "null"]},
    },
}
OUTCOME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["status", "code"],
    "properties": {
        "status": {
            "type": "string",
            "enum": ["paid", "failed", "pending", "in_flight", "rejected", "conflict", "error"],
        },
        "code": {"type": "string"},
        "message": {"type": "string"},
        "payment": PAYMENT_SCHEMA,
    },
}
_text = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_FIELD_LENGTH,
    "pattern": TEXT_PATTERN,
}
KEY_PARAMETER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "description": "1-255 printable ASCII characters, bare (Stripe) or as an sf-string (IETF)",
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_KEY_LENGTH,
        "pattern": r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$",
    },
}
ID_PARAMETER: dict[str, Any] = {
    "name": "payment_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "maxLength": MAX_ID_LENGTH, "pattern": ID_PATTERN},
}
REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["order", "amount", "currency", "source"],
    "properties": {
        "merchant": {
            **_text,
            "description": "optional: the API key's merchant; any other is refused (403)",
        },
        "order": _text,
        "amount": {"type": "integer", "minimum": 1, "maximum": MAX_AMOUNT},
        "currency": {"type": "string", "enum": sorted(ISO_4217), "example": "usd"},
        "source": {**_text, "example": "tok_visa"},
        "metadata": {
            "type": "object",
            "maxProperties": MAX_METADATA_ITEMS,
            "propertyNames": {"maxLength": MAX_METADATA_KEY, "pattern": ANY_TEXT_PATTERN},
            "additionalProperties": {
                "type": "string",
                "maxLength": MAX_METADATA_VALUE,
                "pattern": ANY_TEXT_PATTERN,
            },
        },
    },
}


SECURITY_SCHEME = "merchantKey"
SECURITY: list[dict[str, list[str]]] = [{SECURITY_SCHEME: []}]
REALM = 'Bearer realm="payharness"'


class Unauthorized(Exception):
    """No usable API key: answered 401 with ``WWW-Authenticate``."""

    def __init__(self, presented: bool) -> None:
        super().__init__("unauthorized")
        self.presented = presented


def unauthorized(exc: Unauthorized) -> Any:
    if exc.presented:
        challenge = f'{REALM}, error="invalid_token"'
        message = "the API key is unknown, malformed or revoked"
    else:
        challenge = REALM
        message = "an API key is required: Authorization: Bearer <key>"
    return _json(401, {"code": "unauthorized", "message": message}, {"WWW-Authenticate": challenge})


def _json(status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Any:
    return JSONResponse(status_code=status, content=dict(body), headers=dict(headers or {}))


def error_response(status: int, code: str, message: str, **extra: Any) -> Any:
    return _json(status, {"code": code, "message": message, **extra})


def render(response: Response) -> Any:
    headers: dict[str, str] = {}
    if response.replayed:
        headers["Idempotent-Replayed"] = "true"
    if response.retry_after_s is not None:
        headers["Retry-After"] = str(response.retry_after_s)
    body = response.body()
    body.setdefault("message", "")
    return _json(response.status, body, headers)


def create_app(
    config: LiveConfig | None = None,
    variant: Variant | None = None,
    faults: FaultPoints | None = None,
    *,
    faults_from_env: bool = True,
) -> FastAPI:
    """The service for one variant; connections open in the lifespan, close on shutdown."""
    cfg = config or LiveConfig.from_env()
    chosen = variant or cfg.resolve_variant()
    armed = faults if faults is not None else (FaultPoints.from_env() if faults_from_env else None)
    state: dict[str, LiveTransport] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        transport = LiveTransport(cfg, chosen)
        await transport.open()
        state["transport"] = transport
        try:
            yield
        finally:
            await transport.close()

    app = FastAPI(
        title="payharness payment gateway",
        version="0.1.0",
        description=(
            "The seed's payment gateway running the payharness core flow. "
            f"Variant: {chosen.name}. POST /payments requires an Idempotency-Key header; "
            "payment operations need a merchant's API key (Authorization: Bearer)."
        ),
        lifespan=lifespan,
    )
    app.state.variant = chosen
    app.state.config = cfg

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Any:
        return error_response(400, "invalid_request", str(exc.errors())[:500])

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Any:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        # keep the exception's headers: a 405 carries ``Allow`` (RFC 9110 section 15.5.6)
        return _json(
            exc.status_code,
            {"code": code, "message": str(exc.detail)},
            dict(exc.headers or {}),
        )

    async def merchant_of(request: Request) -> str:
        """The merchant of the request's active API key; ``Unauthorized`` otherwise (a
        backend fault propagates as ``Fault``: 503, nothing decided)."""
        token = bearer_token(request.headers.getlist("authorization"))
        merchant = await authenticate(state["transport"].postgres.query, token)
        if merchant is None:
            raise Unauthorized(presented=bool(request.headers.getlist("authorization")))
        return merchant

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Any:
        # A bug or a backend's unexpected error, never the client's input (live.validation
        # answers that with a 4xx). The flow has released the key's lock; the client's text
        # is not echoed and the details go to the log.
        incident = uuid.uuid4().hex[:12]
        log.error("incident %s: %s", incident, type(exc).__name__, exc_info=exc)
        return error_response(
            500, "internal_error", f"an unexpected error (incident {incident}); retry the request"
        )

    responses: dict[int | str, dict[str, Any]] = {
        201: {"description": "Payment completed (or its replay)", "content": _c(OUTCOME_SCHEMA)},
        202: {"description": "Outcome unknown; will be reconciled", "content": _c(OUTCOME_SCHEMA)},
        400: {"description": "Missing/malformed key or body", "content": _c(ERROR_SCHEMA)},
        401: {"description": "Missing, unknown or revoked API key", "content": _c(ERROR_SCHEMA)},
        402: {"description": "Declined (final)", "content": _c(OUTCOME_SCHEMA)},
        403: {"description": "Body merchant is not the key's", "content": _c(ERROR_SCHEMA)},
        409: {"description": "Same key in flight; see Retry-After", "content": _c(ERROR_SCHEMA)},
        413: {"description": f"Body over {MAX_BODY_BYTES} bytes", "content": _c(ERROR_SCHEMA)},
        415: {"description": "Body not application/json", "content": _c(ERROR_SCHEMA)},
        422: {"description": "Key reused with another payload", "content": _c(ERROR_SCHEMA)},
        503: {"description": "A backend is unavailable", "content": _c(ERROR_SCHEMA)},
    }

    @app.post(
        "/payments",
        status_code=201,
        responses=responses,
        openapi_extra={
            "security": SECURITY,
            "parameters": [KEY_PARAMETER],
            "requestBody": {"required": True, "content": {"application/json": _s(REQUEST_SCHEMA)}},
        },
    )
    async def create_payment(request: Request) -> Any:
        """Charge an order once per Idempotency-Key, for the API key's merchant."""
        try:
            merchant = await merchant_of(request)
        except Unauthorized as exc:
            return unauthorized(exc)
        except Fault as exc:
            return error_response(503, "backend_unavailable", str(exc))
        try:
            key = key_from_headers(request.headers.getlist("idempotency-key"))
            check_content_type(request.headers.get("content-type"))
            raw = await read_limited(request.stream(), request.headers.get("content-length"))
            payment_request = parse_body(raw, key, merchant)
        except RequestRejected as exc:
            return error_response(exc.status, exc.code, exc.message, field=exc.field)
        transport = state["transport"]
        attempt = uuid.uuid4().hex[:20]
        fault_point = armed.for_request(key) if armed is not None else None
        response = await run_async(
            payment_flow(payment_request, chosen, attempt, transport.contract),
            transport,
            attempt=attempt,
            fault_point=fault_point,
        )
        return render(response)

    @app.get(
        "/payments/{payment_id}",
        responses={
            401: responses[401],
            404: {"description": "No such payment of this merchant", "content": _c(ERROR_SCHEMA)},
            503: {"description": "A backend is unavailable", "content": _c(ERROR_SCHEMA)},
        },
        openapi_extra={"security": SECURITY},
    )
    async def get_payment(payment_id: str, request: Request) -> Any:
        """A payment row of the API key's merchant as Postgres holds it; another merchant's
        payment is 404, exactly as a payment that does not exist."""
        try:
            merchant = await merchant_of(request)
        except Unauthorized as exc:
            return unauthorized(exc)
        except Fault as exc:
            return error_response(503, "backend_unavailable", str(exc))
        if not payment_id_could_exist(payment_id):
            return error_response(404, "payment_not_found", "no such payment")
        try:
            row = await state["transport"].postgres.get(payment_id)
        except Fault as exc:
            return error_response(503, "backend_unavailable", str(exc))
        if row is None or row.merchant != merchant:
            return error_response(404, "payment_not_found", "no such payment")
        return _json(
            200,
            {
                "id": row.id,
                "state": row.state.value,
                "merchant": row.merchant,
                "order": row.order,
                "amount": row.amount,
                "currency": row.currency,
                "charge": row.charge_id,
                "error": row.error,
                "created_ms": row.created_ms,
            },
        )

    @app.get("/healthz")
    async def healthz() -> Any:
        """The process is up (no backend is checked)."""
        return _json(200, {"status": "ok", "variant": chosen.name, "pid": os.getpid()})

    @app.get("/stats")
    async def stats() -> Any:
        """Round trips this process made to Redis and Postgres since it started, and the
        Postgres pool's counters (``payharness bench live`` reads them per payment)."""
        transport = state["transport"]
        pool = transport.postgres.pool.get_stats()
        return _json(
            200,
            {
                "redis_round_trips": transport.redis.round_trips,
                "postgres_round_trips": transport.postgres.round_trips,
                "postgres_pool": {k: int(v) for k, v in pool.items()},
            },
        )

    @app.get("/readyz", responses={503: {"description": "A backend is not reachable"}})
    async def readyz() -> Any:
        """Each backend answers: Redis PING, Postgres SELECT 1, the provider's charge list."""
        transport = state["transport"]
        checks = {
            "redis": transport.redis.ping(),
            "postgres": transport.postgres.ping(),
            "stripe": transport.stripe.ping(),
        }
        results: dict[str, str] = {}
        for name, coro in checks.items():
            try:
                await asyncio.wait_for(coro, READY_TIMEOUT_S)
                results[name] = "ok"
            except (Fault, TimeoutError, OSError) as exc:
                results[name] = f"unavailable: {exc}"[:300]
        ok = all(v == "ok" for v in results.values())
        if ok:
            return _json(200, {"status": "ready", "checks": results})
        bad = ", ".join(k for k, v in results.items() if v != "ok")
        return error_response(503, "not_ready", f"not reachable: {bad}", checks=results)

    generated = app.openapi

    def openapi() -> dict[str, Any]:
        """FastAPI's document, with the payment id's constraints (kept out of the route so a
        malformed id is a 404 from the handler, not a 400 from FastAPI's validation)."""
        spec = generated()
        spec["paths"]["/payments/{payment_id}"]["get"]["parameters"] = [ID_PARAMETER]
        spec.setdefault("components", {})["securitySchemes"] = {
            SECURITY_SCHEME: {
                "type": "http",
                "scheme": "bearer",
                "description": "a merchant's API key (`payharness merchants add NAME`)",
            }
        }
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _s(schema: dict[str, Any]) -> dict[str, Any]:
    return {"schema": schema}


def _c(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": _s(schema)}
