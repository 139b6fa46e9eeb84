"""The PayPal stand-in's HTTP surface over ``PayPalModel`` (Starlette, loopback only).

Each endpoint parses PayPal's wire format, asks the model under one lock, and renders the
model's answer in PayPal's wire format. The lock is a ``threading.Lock`` held only around
synchronous model calls (never across an ``await``), so it is safe for the event loop and for
threads alike.

=========================================  =================================================
endpoint                                   model
=========================================  =================================================
``POST /v1/oauth2/token``                  none: client-credentials stub (Basic auth), an
                                           opaque Bearer token every other call must carry
``POST /v2/checkout/orders``               ``begin`` … ``processing_ms`` … ``finish``: 201 a
                                           new order + capture (COMPLETED or DECLINED with
                                           ``processor_response``); 200 the latest status of
                                           an earlier ``PayPal-Request-Id`` (payload not
                                           compared); 500 for a 500 source, a lost request
                                           and a simultaneous second request (``fail``);
                                           429 ``RATE_LIMIT_REACHED``
``GET /v2/payments/captures/{id}``         ``retrieve``: the capture now, 404 if unknown
``POST /v2/payments/captures/{id}/refund`` ``refund`` (full): later replays answer REFUNDED
``GET /v1/reporting/transactions``         the captures ``find_by_metadata`` would show:
                                           only those at least ``search_lag_ms`` old, in the
                                           date window, paged; filtering on ``custom_field``
                                           is the caller's (PayPal has no such filter)
``GET /_standin/captures``                 not PayPal: every capture, for tests and audits
``GET /_standin/healthz``                  not PayPal: readiness probe
=========================================  =================================================

The payment source is ``payment_source.card.vault_id`` (a saved card): the scenarios'
provider-neutral test sources (``tok_visa``, ``tok_chargeDeclined…``, ``tok_500``, ``tok_429``)
travel there and the model decides what each does. ``custom_id`` carries the gateway's
``payment_id`` (what the reconciler searches for); ``reference_id`` the rest of the metadata
as compact JSON.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from core.effects import ChargeResult, Conflict, OutcomeUnknown, Unavailable
from core.models.paypal_model import PayPalModel, capture_result
from core.models.stripe_model import Charge, Ticket
from core.providers import PAYPAL_SEARCH_LAG_MS

ZERO_DECIMAL = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf huf twd".split()
)
"""Currencies whose PayPal ``value`` has no decimals (the gateway's minor unit is the unit)."""
MAX_PAGE_SIZE = 500
WAIT_POLL_S = 0.01


@dataclass(frozen=True, slots=True)
class StandinSettings:
    client_id: str = "payharness"
    client_secret: str = "payharness-secret"
    simultaneous: Literal["fail", "wait"] = "fail"
    search_lag_ms: int = PAYPAL_SEARCH_LAG_MS
    processing_ms: int = 20
    """How long a create-order request stays 'executing' between ``begin`` and ``finish``:
    a second request with the same id inside it meets the simultaneous-request rule."""
    wait_timeout_ms: int = 10_000
    """``wait``: how long a second request waits for the first before it gives up (500)."""


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{ms % 1000:03d}Z"
    )


def parse_iso_ms(text: str) -> int:
    value = text.strip().replace(" ", "+")  # a '+' in a query string arrives as a space
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    if len(value) >= 5 and value[-5] in "+-" and value[-3] != ":":
        value = value[:-2] + ":" + value[-2:]  # PayPal writes offsets as +0000
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def money(amount: int, currency: str) -> dict[str, str]:
    if currency.lower() in ZERO_DECIMAL:
        value = str(amount)
    else:
        value = f"{amount // 100}.{amount % 100:02d}"
    return {"currency_code": currency.upper(), "value": value}


def minor_units(value: str, currency: str) -> int:
    amount = Decimal(value)
    if currency.lower() not in ZERO_DECIMAL:
        amount = amount * 100
    if amount != amount.to_integral_value() or amount <= 0:
        raise ValueError(f"amount {value!r} {currency}: not a positive amount in minor units")
    return int(amount)


def paypal_error(status: int, name: str, message: str, issue: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {
        "name": name,
        "message": message,
        "debug_id": secrets.token_hex(6),
    }
    if issue is not None:
        body["details"] = [{"issue": issue, "description": message}]
    return JSONResponse(body, status_code=status)


class _BadRequest(Exception):
    def __init__(self, message: str, issue: str = "INVALID_PARAMETER_VALUE") -> None:
        super().__init__(message)
        self.message = message
        self.issue = issue


@dataclass
class Standin:
    """The model, its lock, and the wire format around them."""

    settings: StandinSettings
    clock: Callable[[], int] = wall_ms
    model: PayPalModel = field(init=False)
    lock: threading.Lock = field(default_factory=threading.Lock)
    tokens: set[str] = field(default_factory=set)
    order_ids: dict[str, str] = field(default_factory=dict)
    """capture id → order id (the model knows captures; PayPal answers orders)."""

    def __post_init__(self) -> None:
        self.model = PayPalModel(
            clock=self.clock,
            simultaneous=self.settings.simultaneous,
            search_lag_ms=self.settings.search_lag_ms,
        )

    # --- wire format ----------------------------------------------------------------------

    def capture_json(self, capture: Charge) -> dict[str, Any]:
        status = {"succeeded": "COMPLETED", "failed": "DECLINED", "refunded": "REFUNDED"}
        code = "0000"
        if capture.status == "failed":
            code = capture_result(capture).decline_code or "0500"
        metadata = dict(capture.metadata)
        payment_id = metadata.pop("payment_id", None)
        out: dict[str, Any] = {
            "id": capture.id,
            "status": status.get(capture.status, "PENDING"),
            "amount": money(capture.amount, capture.currency),
            "final_capture": True,
            "processor_response": {"response_code": code},
            "create_time": iso(capture.created_ms),
            "update_time": iso(capture.created_ms),
            "supplementary_data": {"related_ids": {"order_id": self.order_ids.get(capture.id, "")}},
        }
        if payment_id is not None:
            out["custom_id"] = payment_id
        if metadata:
            out["reference_id"] = json.dumps(metadata, separators=(",", ":"), sort_keys=True)
        return out

    def order_json(self, capture: Charge) -> dict[str, Any]:
        cap = self.capture_json(capture)
        unit: dict[str, Any] = {
            "reference_id": cap.get("reference_id", "default"),
            "amount": cap["amount"],
            "payments": {"captures": [cap]},
        }
        if "custom_id" in cap:
            unit["custom_id"] = cap["custom_id"]
        return {
            "id": self.order_ids[capture.id],
            "intent": "CAPTURE",
            "status": "COMPLETED",
            "payment_source": {"card": {"vault_id": capture.source}},
            "purchase_units": [unit],
            "create_time": cap["create_time"],
            "update_time": cap["update_time"],
        }

    def parse_order(self, body: Any) -> tuple[int, str, str, dict[str, str]]:
        """(amount, currency, source, metadata) of a one-step create-order body."""
        if not isinstance(body, dict):
            raise _BadRequest("the body is not a JSON object", "MALFORMED_REQUEST_JSON")
        if body.get("intent") != "CAPTURE":
            raise _BadRequest("only intent CAPTURE (one-step) is served here")
        units = body.get("purchase_units")
        if not isinstance(units, list) or len(units) != 1 or not isinstance(units[0], dict):
            raise _BadRequest("exactly one purchase unit is served here")
        unit = units[0]
        amount_obj = unit.get("amount")
        if not isinstance(amount_obj, dict):
            raise _BadRequest("purchase_units[0].amount is required", "MISSING_REQUIRED_PARAMETER")
        currency = str(amount_obj.get("currency_code", "")).lower()
        try:
            amount = minor_units(str(amount_obj.get("value", "")), currency)
        except (ValueError, InvalidOperation) as exc:
            raise _BadRequest(str(exc)) from None
        source_obj = body.get("payment_source")
        card = source_obj.get("card") if isinstance(source_obj, dict) else None
        if not isinstance(card, dict):
            raise _BadRequest("payment_source.card is required", "MISSING_REQUIRED_PARAMETER")
        source = str(card.get("vault_id") or "card")
        metadata: dict[str, str] = {}
        ref = unit.get("reference_id")
        if isinstance(ref, str) and ref.startswith("{"):
            try:
                decoded = json.loads(ref)
            except ValueError:
                decoded = None
            if isinstance(decoded, dict):
                metadata.update({str(k): str(v) for k, v in decoded.items()})
        custom = unit.get("custom_id")
        if isinstance(custom, str) and custom:
            metadata["payment_id"] = custom
        return amount, currency, source, metadata

    # --- endpoints ------------------------------------------------------------------------

    def authorised(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        return header.startswith("Bearer ") and header[7:] in self.tokens

    async def token(self, request: Request) -> JSONResponse:
        header = request.headers.get("authorization", "")
        expected = f"{self.settings.client_id}:{self.settings.client_secret}"
        try:
            given = base64.b64decode(header[6:]).decode() if header.startswith("Basic ") else ""
        except (binascii.Error, UnicodeDecodeError):
            given = ""
        if not secrets.compare_digest(given, expected):
            return JSONResponse(
                {"error": "invalid_client", "error_description": "Client Authentication failed"},
                status_code=401,
            )
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens.add(token)
        return JSONResponse(
            {
                "scope": "https://uri.paypal.com/services/payments/payment",
                "access_token": token,
                "token_type": "Bearer",
                "app_id": "APP-PAYHARNESS",
                "expires_in": 32400,
                "nonce": secrets.token_hex(8),
            }
        )

    async def create_order(self, request: Request) -> JSONResponse:
        if not self.authorised(request):
            return paypal_error(401, "AUTHENTICATION_FAILURE", "Authentication failed")
        try:
            body = await request.json()
        except ValueError:
            body = None
        try:
            amount, currency, source, metadata = self.parse_order(body)
        except _BadRequest as exc:
            return paypal_error(400, "INVALID_REQUEST", exc.message, exc.issue)
        key = request.headers.get("paypal-request-id") or None
        try:
            with self.lock:
                started = self.model.begin(key, amount, currency, source, metadata)
            if isinstance(started, ChargeResult):
                return self._order_response(started, 200)
            if started.follows:
                await self._wait_for_first(started)
            else:
                await asyncio.sleep(self.settings.processing_ms / 1000)
            with self.lock:
                result = self.model.finish(started)
                if not started.follows:
                    assert result.charge_id is not None
                    self.order_ids[result.charge_id] = f"O-{result.charge_id}"
            return self._order_response(result, 200 if result.replayed else 201)
        except Unavailable as exc:
            return paypal_error(429, "RATE_LIMIT_REACHED", str(exc))
        except OutcomeUnknown as exc:
            return paypal_error(500, "INTERNAL_SERVER_ERROR", str(exc))

    async def _wait_for_first(self, ticket: Ticket) -> None:
        """``wait``: poll (bounded) until the first request with this id has finished."""
        deadline = time.monotonic() + self.settings.wait_timeout_ms / 1000
        while time.monotonic() < deadline:
            with self.lock:
                # The model's own record of the request id: is the first still executing?
                entry = self.model._keys.get(ticket.key) if ticket.key is not None else None
                if entry is None or not entry.executing:
                    return
            await asyncio.sleep(WAIT_POLL_S)

    def _order_response(self, result: ChargeResult, status: int) -> JSONResponse:
        with self.lock:
            assert result.charge_id is not None
            capture = self.model.charges[result.charge_id]
            return JSONResponse(self.order_json(capture), status_code=status)

    async def get_capture(self, request: Request) -> JSONResponse:
        if not self.authorised(request):
            return paypal_error(401, "AUTHENTICATION_FAILURE", "Authentication failed")
        capture_id = request.path_params["capture_id"]
        with self.lock:
            capture = self.model.retrieve(capture_id)
            if capture is None:
                return paypal_error(
                    404, "RESOURCE_NOT_FOUND", "The specified resource does not exist.",
                    "INVALID_RESOURCE_ID",
                )  # fmt: skip
            return JSONResponse(self.capture_json(capture))

    async def refund(self, request: Request) -> JSONResponse:
        if not self.authorised(request):
            return paypal_error(401, "AUTHENTICATION_FAILURE", "Authentication failed")
        capture_id = request.path_params["capture_id"]
        with self.lock:
            if capture_id not in self.model.charges:
                return paypal_error(404, "RESOURCE_NOT_FOUND", "no such capture")
            try:
                self.model.refund(capture_id)
            except Conflict as exc:
                return paypal_error(422, "UNPROCESSABLE_ENTITY", str(exc), "CAPTURE_FULLY_REFUNDED")
            capture = self.model.charges[capture_id]
        return JSONResponse(
            {
                "id": f"R-{capture_id}",
                "status": "COMPLETED",
                "amount": money(capture.amount, capture.currency),
            },
            status_code=201,
        )

    async def search(self, request: Request) -> JSONResponse:
        if not self.authorised(request):
            return paypal_error(401, "AUTHENTICATION_FAILURE", "Authentication failed")
        q = request.query_params
        try:
            start = parse_iso_ms(q["start_date"])
            end = parse_iso_ms(q["end_date"])
            page_size = int(q.get("page_size", "100"))
            page = int(q.get("page", "1"))
        except (KeyError, ValueError) as exc:
            return paypal_error(400, "INVALID_REQUEST", f"bad search parameters: {exc}")
        if not 1 <= page_size <= MAX_PAGE_SIZE or page < 1 or end < start:
            return paypal_error(400, "INVALID_REQUEST", "page_size 1-500, page >= 1, start<=end")
        if end - start > 31 * 24 * 3_600_000:
            return paypal_error(400, "INVALID_REQUEST", "the date range is at most 31 days")
        with self.lock:
            visible_before = self.clock() - self.model.search_lag_ms
            hits = [
                c
                for c in self.model.charges.values()
                if start <= c.created_ms <= end and c.created_ms <= visible_before
            ]
            hits.sort(key=lambda c: (c.created_ms, c.id))
            total = len(hits)
            chosen = hits[(page - 1) * page_size : page * page_size]
            details = [{"transaction_info": self._transaction_info(c)} for c in chosen]
        return JSONResponse(
            {
                "transaction_details": details,
                "account_number": "PAYHARNESS",
                "start_date": iso(start),
                "end_date": iso(end),
                "last_refreshed_datetime": iso(visible_before),
                "page": page,
                "total_items": total,
                "total_pages": max(1, -(-total // page_size)),
                "links": [],
            }
        )

    def _transaction_info(self, capture: Charge) -> dict[str, Any]:
        cap = self.capture_json(capture)
        status = {"succeeded": "S", "failed": "D", "refunded": "V"}.get(capture.status, "P")
        info: dict[str, Any] = {
            "transaction_id": capture.id,
            "paypal_reference_id": self.order_ids.get(capture.id, ""),
            "transaction_event_code": "T0006",
            "transaction_initiation_date": cap["create_time"],
            "transaction_updated_date": cap["update_time"],
            "transaction_amount": cap["amount"],
            "transaction_status": status,
        }
        if "custom_id" in cap:
            info["custom_field"] = cap["custom_id"]
        return info

    async def all_captures(self, request: Request) -> JSONResponse:
        with self.lock:
            captures = [self.capture_json(c) for c in self.model.charges.values()]
        return JSONResponse({"captures": captures, "count": len(captures)})

    async def healthz(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "simultaneous": self.settings.simultaneous})


def create_app(
    settings: StandinSettings | None = None, *, clock: Callable[[], int] = wall_ms
) -> Starlette:
    standin = Standin(settings or StandinSettings(), clock)
    routes = [
        Route("/v1/oauth2/token", standin.token, methods=["POST"]),
        Route("/v2/checkout/orders", standin.create_order, methods=["POST"]),
        Route("/v2/payments/captures/{capture_id}", standin.get_capture, methods=["GET"]),
        Route("/v2/payments/captures/{capture_id}/refund", standin.refund, methods=["POST"]),
        Route("/v1/reporting/transactions", standin.search, methods=["GET"]),
        Route("/_standin/captures", standin.all_captures, methods=["GET"]),
        Route("/_standin/healthz", standin.healthz, methods=["GET"]),
    ]
    app = Starlette(routes=routes)
    app.state.standin = standin
    return app


def settings_from(values: Mapping[str, str]) -> StandinSettings:
    """Settings from ``--name value`` style options already parsed into strings."""
    defaults = StandinSettings()
    simultaneous = values.get("simultaneous", defaults.simultaneous)
    if simultaneous not in ("fail", "wait"):
        raise ValueError(f"--simultaneous must be fail or wait, not {simultaneous!r}")
    return StandinSettings(
        client_id=values.get("client_id", defaults.client_id),
        client_secret=values.get("client_secret", defaults.client_secret),
        simultaneous="wait" if simultaneous == "wait" else "fail",
        search_lag_ms=int(values.get("search_lag_ms", defaults.search_lag_ms)),
        processing_ms=int(values.get("processing_ms", defaults.processing_ms)),
    )
