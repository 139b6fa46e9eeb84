"""Charges through PayPal's official ``paypal-server-sdk`` (Orders v2) against a configurable
base URL: the stand-in ``live/paypal_standin`` in the live stack and tests, or PayPal's
sandbox with real client credentials.

The flow is the model's (``core/models/paypal_model.py``): one ``POST /v2/checkout/orders``
with ``intent: CAPTURE`` and a card payment source (``payment_source.card.vault_id``: the
gateway's ``source``) creates and captures the order in one request, with ``PayPal-Request-Id``
set to the effect's idempotency key. ``custom_id`` carries the gateway's ``payment_id`` (what
the reconciler searches for), ``reference_id`` the rest of the metadata as compact JSON (at
most 256 characters: the fingerprint, then the key are dropped if it would not fit).

The SDK is synchronous (``requests``); every call runs on this adapter's own thread pool so
the event loop never blocks, over one ``requests`` session whose keep-alive pool is as large
as the thread pool. ``max_retries=0``: one effect is exactly one HTTP request (as for Stripe:
the core decides retries).

=====================================  ===================================================
what PayPal said                       what the flow receives
=====================================  ===================================================
201 order, capture ``COMPLETED``       ``ChargeResult(succeeded=True)``
200 order (a known PayPal-Request-Id)  the same, ``replayed=True``: the capture's *latest*
                                       status (``REFUNDED`` reads as not succeeded)
capture ``DECLINED``                   ``ChargeResult(succeeded=False, processor code)``
400/422 (request refused)              ``ChargeResult(None, False, issue)``: final, no capture
409                                    ``Conflict``
429 ``RATE_LIMIT_REACHED``             ``Unavailable`` (nothing executed)
401/403, token refused                 ``Unavailable`` (nothing done; a configuration fault)
5xx (incl. a simultaneous second       ``OutcomeUnknown`` (the ``paypal`` contract: the
request's failure)                     adapter cannot tell it from a failed call)
connect refused / connect timeout      ``Unavailable`` (the request never left)
read timeout, reset, bad response      ``OutcomeUnknown``
=====================================  ===================================================
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import requests
from paypalserversdk.configuration import Configuration, Environment, Server
from paypalserversdk.exceptions.api_exception import ApiException
from paypalserversdk.http.auth.o_auth_2 import ClientCredentialsAuthCredentials
from paypalserversdk.models.amount_with_breakdown import AmountWithBreakdown
from paypalserversdk.models.card_request import CardRequest
from paypalserversdk.models.checkout_payment_intent import CheckoutPaymentIntent
from paypalserversdk.models.order_request import OrderRequest
from paypalserversdk.models.payment_source import PaymentSource
from paypalserversdk.models.purchase_unit_request import PurchaseUnitRequest
from paypalserversdk.paypal_serversdk_client import PaypalServersdkClient
from requests.adapters import HTTPAdapter

from core.effects import ChargeResult, Conflict, OutcomeUnknown, ProviderCharge, Unavailable
from live.stripe_provider import CallRecord, keep_call

T = TypeVar("T")

ZERO_DECIMAL = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf huf twd".split()
)
"""Currencies whose PayPal ``value`` has no decimals."""
SEARCH_WINDOW_DAYS = 31
"""Transaction search accepts at most 31 days per call: the window searched for a payment."""
SEARCH_PAGE_SIZE = 500
MAX_SEARCH_PAGES = 1_000
REFERENCE_MAX = 256
PROVIDER_THREADS = 32
"""Concurrent SDK calls per process (each holds a thread while its request is out)."""

_NOT_SENT = (requests.exceptions.ConnectTimeout,)


def to_value(amount: int, currency: str) -> str:
    """Minor units → PayPal's decimal ``value``."""
    if currency.lower() in ZERO_DECIMAL:
        return str(amount)
    return f"{amount // 100}.{amount % 100:02d}"


def from_value(value: str, currency: str) -> int:
    amount = Decimal(value)
    if currency.lower() not in ZERO_DECIMAL:
        amount *= 100
    return int(amount)


def reference_for(metadata: Mapping[str, str]) -> str | None:
    """The metadata other than ``payment_id`` as compact JSON that fits ``reference_id``."""
    rest = {k: v for k, v in metadata.items() if k != "payment_id"}
    for drop in ((), ("fingerprint",), ("fingerprint", "idempotency_key")):
        kept = {k: v for k, v in rest.items() if k not in drop}
        text = json.dumps(kept, separators=(",", ":"), sort_keys=True)
        if len(text) <= REFERENCE_MAX:
            return text if kept else None
    return None


def _get(obj: Any, name: str) -> Any:
    """A field of an SDK model or a dict (the SDK leaves unknown shapes as dicts)."""
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def capture_result(capture: Any, *, replayed: bool = False) -> ChargeResult:
    """An Orders v2 / Payments v2 capture as the gateway reads it (as the model's
    ``capture_result``): COMPLETED succeeded; DECLINED carries the processor code; REFUNDED
    is no longer a payment."""
    status = str(_get(capture, "status") or "")
    amount = _get(capture, "amount")
    currency = str(_get(amount, "currency_code") or "").lower()
    minor = from_value(str(_get(amount, "value") or "0"), currency)
    decline: str | None = None
    if status == "DECLINED":
        processor = _get(capture, "processor_response")
        decline = str(_get(processor, "response_code") or "0500")
    elif status == "REFUNDED":
        decline = "refunded"
    elif status != "COMPLETED":
        decline = status.lower() or "unknown"
    return ChargeResult(
        str(_get(capture, "id")), status == "COMPLETED", minor, currency, decline, replayed
    )


def _error_json(exc: ApiException) -> dict[str, Any]:
    try:
        body = json.loads(exc.response.text or "")
    except (ValueError, AttributeError):
        return {}
    return body if isinstance(body, dict) else {}


def _issue(exc: ApiException) -> str:
    body = _error_json(exc)
    details = body.get("details")
    if isinstance(details, list) and details and isinstance(details[0], dict):
        issue = details[0].get("issue")
        if isinstance(issue, str):
            return issue
    name = body.get("name")
    return name if isinstance(name, str) else f"http_{exc.response_code}"


class _Configuration(Configuration):  # type: ignore[misc]  # the SDK is untyped
    """The SDK's configuration with its base URL replaced (the SDK knows only PayPal's two
    hosts; the stand-in and tests need another)."""

    def __init__(self, api_base: str, **kwargs: Any) -> None:
        self._api_base = api_base.rstrip("/")
        super().__init__(**kwargs)

    def get_base_uri(self, server: Server = Server.DEFAULT) -> str:
        return self._api_base


@dataclass
class PayPalProvider:
    """The one-step create order, capture lookup and transaction search over the SDK."""

    api_base: str
    client_id: str
    client_secret: str
    timeout_s: float = 30.0
    call_log_path: str | None = None
    calls: list[CallRecord] = field(default_factory=list)
    keep_calls: int = 10_000
    clock: Callable[[], int] = field(default=lambda: time.time_ns() // 1_000_000)
    client: PaypalServersdkClient = field(init=False)
    _pool: ThreadPoolExecutor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        config = _Configuration(
            self.api_base,
            timeout=self.timeout_s,
            max_retries=0,
            environment=Environment.SANDBOX,
            client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
                o_auth_client_id=self.client_id, o_auth_client_secret=self.client_secret
            ),
        )
        session = config.http_client.session
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=PROVIDER_THREADS, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self.client = PaypalServersdkClient(config=config)
        self._pool = ThreadPoolExecutor(PROVIDER_THREADS, thread_name_prefix="paypal")
        # The SDK fetches an OAuth token lazily and caches it; one lock-free fetch per thread
        # racing at start-up is harmless (each token is valid).

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.client.config.http_client.session.close()

    async def _call(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

    # --- charge ---------------------------------------------------------------------------

    def _order_request(self, effect: ProviderCharge) -> OrderRequest:
        metadata = effect.metadata_dict()
        unit: dict[str, Any] = {
            "amount": AmountWithBreakdown(
                currency_code=effect.currency.upper(),
                value=to_value(effect.amount, effect.currency),
            )
        }
        reference = reference_for(metadata)
        if reference is not None:
            unit["reference_id"] = reference
        if "payment_id" in metadata:
            unit["custom_id"] = metadata["payment_id"]
        return OrderRequest(
            intent=CheckoutPaymentIntent.CAPTURE,
            purchase_units=[PurchaseUnitRequest(**unit)],
            payment_source=PaymentSource(card=CardRequest(vault_id=effect.source)),
        )

    async def charge(self, effect: ProviderCharge) -> ChargeResult:
        body = self._order_request(effect)
        options = {"body": body, "paypal_request_id": effect.idempotency_key}
        try:
            response = await self._call(lambda: self.client.orders.create_order(options))
        except ApiException as exc:
            status = exc.response_code
            try:
                result = self._map_error(exc, effect)
            except Exception as fault:
                self._log(effect, type(fault).__name__, None, False, status)
                raise
            self._log(effect, "declined", result.charge_id, False, status)
            return result
        except Exception as exc:
            mapped = self._map_transport(exc)
            self._log(effect, type(mapped).__name__, None, False, None)
            raise mapped from exc
        status = int(response.status_code)
        try:
            unit = response.body.purchase_units[0]
            capture = unit.payments.captures[0]
            result = capture_result(capture, replayed=status == 200)
        except (AttributeError, IndexError, TypeError, ValueError) as exc:
            self._log(effect, "OutcomeUnknown", None, False, status)
            raise OutcomeUnknown(f"paypal: {status} without a readable capture") from exc
        outcome = "succeeded" if result.succeeded else "declined"
        self._log(effect, outcome, result.charge_id, result.replayed, status)
        return result

    def _map_error(self, exc: ApiException, effect: ProviderCharge) -> ChargeResult:
        status = exc.response_code
        if status == 429:
            raise Unavailable("paypal: 429 RATE_LIMIT_REACHED (nothing executed)") from exc
        if status in (401, 403):
            raise Unavailable(f"paypal: {status} {_issue(exc)} (credentials)") from exc
        if status == 409:
            raise Conflict(f"paypal: 409 {_issue(exc)}") from exc
        if status >= 500:
            raise OutcomeUnknown(f"paypal: {status} {_issue(exc)}") from exc
        if status in (400, 422):
            return ChargeResult(None, False, effect.amount, effect.currency, _issue(exc))
        raise OutcomeUnknown(f"paypal: unexpected {status} {_issue(exc)}") from exc

    @staticmethod
    def _map_transport(exc: Exception) -> Exception:
        """A failure below HTTP: refused/connect timeout never left; anything else may have."""
        if isinstance(exc, _NOT_SENT):
            return Unavailable(f"paypal: not reachable: {exc!r}")
        if isinstance(exc, requests.exceptions.ConnectionError) and not isinstance(
            exc, requests.exceptions.ReadTimeout
        ):
            text = repr(exc)
            if "Connection refused" in text or "NewConnectionError" in text:
                return Unavailable(f"paypal: not reachable: {exc!r}")
            return OutcomeUnknown(f"paypal: connection lost: {exc!r}")
        if isinstance(exc, requests.exceptions.RequestException):
            return OutcomeUnknown(f"paypal: request outcome unknown: {exc!r}")
        # The SDK's auth layer refuses to send a request without a token.
        return Unavailable(f"paypal: request not sent: {type(exc).__name__}: {exc}")

    def _log(
        self,
        effect: ProviderCharge,
        outcome: str,
        charge_id: str | None,
        replayed: bool,
        status: int | None,
    ) -> None:
        record = CallRecord.of(self.clock(), effect, outcome, charge_id, replayed, status)
        keep_call(self.calls, self.keep_calls, self.call_log_path, record)

    # --- lookups --------------------------------------------------------------------------

    async def retrieve(self, charge_id: str) -> ChargeResult | None:
        """``GET /v2/payments/captures/{id}``: the capture's status now."""
        options = {"capture_id": charge_id}
        try:
            response = await self._call(lambda: self.client.payments.get_captured_payment(options))
        except ApiException as exc:
            if exc.response_code == 404:
                return None
            raise Unavailable(f"paypal: capture lookup failed: {exc.response_code}") from exc
        except Exception as exc:
            raise Unavailable(f"paypal: capture lookup failed: {exc!r}") from exc
        return capture_result(response.body)

    async def search_ids(self, start_ms: int, end_ms: int) -> list[tuple[str, str | None]]:
        """(capture id, custom field) of every transaction the search shows in the window,
        oldest first, paged (PayPal has no filter on ``custom_field``)."""
        out: list[tuple[str, str | None]] = []
        for page in range(1, MAX_SEARCH_PAGES + 1):
            options = {
                "start_date": _iso(start_ms),
                "end_date": _iso(end_ms),
                "fields": "transaction_info",
                "page_size": SEARCH_PAGE_SIZE,
                "page": page,
            }
            try:
                response = await self._call(
                    lambda o=options: self.client.transaction_search.search_transactions(o)  # type: ignore[misc]
                )
            except ApiException as exc:
                raise Unavailable(f"paypal: search failed: {exc.response_code}") from exc
            except Exception as exc:
                raise Unavailable(f"paypal: search failed: {exc!r}") from exc
            body = response.body
            for detail in _get(body, "transaction_details") or []:
                info = _get(detail, "transaction_info")
                tid = _get(info, "transaction_id")
                if tid is not None:
                    custom = _get(info, "custom_field")
                    out.append((str(tid), None if custom is None else str(custom)))
            if page >= int(_get(body, "total_pages") or 1):
                return out
        raise Unavailable(f"paypal: more than {MAX_SEARCH_PAGES} search pages; search stopped")

    async def charges_for_payment(self, payment_id: str) -> tuple[ChargeResult, ...]:
        """The captures whose ``custom_id`` names ``payment_id``, oldest first, as the
        transaction search shows them (with its lag: up to 3 h on PayPal), each read by id
        for its status now. Searched over the last 31 days (the search's longest window)."""
        now = self.clock()
        found = await self.search_ids(now - SEARCH_WINDOW_DAYS * 86_400_000 + 60_000, now + 1)
        results: list[ChargeResult] = []
        for tid, custom in found:
            if custom != payment_id:
                continue
            result = await self.retrieve(tid)
            if result is not None:
                results.append(result)
        return tuple(results)

    async def ping(self) -> bool:
        """A token and a one-minute search: the credentials work and the API answers."""
        now = self.clock()
        await self.search_ids(now - 60_000, now)
        return True


def _iso(ms: int) -> str:
    """RFC 3339 with milliseconds (the search's dates)."""
    stamp = datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{ms % 1000:03d}Z"
