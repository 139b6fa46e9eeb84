"""Charges through the official ``stripe`` SDK (async client) against a configurable base URL.

The base URL points at stripe-stateful-mock in the live stack; it can equally point at
Stripe's stateless ``stripe-mock`` or at api.stripe.com with a test key.

``max_network_retries=0``: the SDK would otherwise retry 409s, 5xx and connection errors by
itself, under the same idempotency key. The core decides retries (the lock wait, the client's
retry, the reconciler re-asking with the original key), so one effect is exactly one HTTP
request: the differential test, the call log and the audit rely on that, and a 409 or 500
reaches the flow as the fault it is instead of being hidden behind SDK back-off.

Every error class maps to one of the core's outcomes:

=====================================  ===================================================
what the provider said                 what the flow receives
=====================================  ===================================================
2xx charge ``succeeded``/``failed``    ``ChargeResult`` (``replayed`` from the header)
402 ``CardError`` (decline)            ``ChargeResult(succeeded=False, decline_code)``
400 ``InvalidRequestError``            ``ChargeResult(None, False, code)``: final, no charge
400 ``IdempotencyError``               ``IdempotencyMismatch``
409 (key in use, lock timeout)         ``Conflict``
429 ``RateLimitError``                 ``Unavailable`` (never saved: safe to retry)
401/403 auth and permission            ``Unavailable`` (nothing done; a configuration fault)
5xx ``APIError``                       ``OutcomeUnknown``
connect refused / connect timeout      ``Unavailable`` (the request never left)
read timeout, reset, bad response      ``OutcomeUnknown``
=====================================  ===================================================
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
import stripe

from core.effects import (
    ChargeResult,
    Conflict,
    IdempotencyMismatch,
    OutcomeUnknown,
    ProviderCharge,
    Unavailable,
)
from core.history import ListedCharge

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
MAX_LIST_PAGES = 10_000
PAGE_SIZE = 100
INDEX_MARGIN_S = 2
"""Charges created within this many seconds of the newest one indexed are listed again."""
PROVIDER_CONNECTIONS = 100
"""Connections one process keeps open to the provider, all of them kept alive between calls.

The SDK's HTTPX client takes httpx's defaults: up to 100 connections but only 20 kept alive,
so a burst of more than 20 concurrent charges (a server that stalled and then caught up)
opens connections and closes them again right after: a TCP (and, against Stripe, a TLS)
handshake per charge beyond 20, spent exactly when the process is already behind. Seen here:
78 connections to the mock left in TIME_WAIT by one 12 s run of one hardened server at
150 payments/s. Idle connections still close after httpx's keep-alive expiry (5 s)."""


class PooledHTTPXClient(stripe.HTTPXClient):
    """The SDK's HTTPX client with a keep-alive pool as large as its connection limit.

    The SDK builds its ``httpx.AsyncClient`` with default limits and takes no option for
    them, so this replaces that client, before any request, with one that keeps every
    connection it opens (TLS verified against the SDK's CA bundle, as the SDK does)."""

    def __init__(self, timeout_s: float, connections: int = PROVIDER_CONNECTIONS) -> None:
        super().__init__(timeout=timeout_s)
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        verify = ssl.create_default_context(cafile=stripe.ca_bundle_path)
        self.pool = httpx.AsyncClient(verify=verify, limits=limits)
        self._client_async = self.pool


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One charge call as the adapter saw it (for stand-ins that cannot list charges)."""

    t_ms: int
    idempotency_key: str
    amount: int
    currency: str
    source: str
    metadata: Mapping[str, str]
    outcome: str  # succeeded | declined | unknown | unavailable | conflict | mismatch
    charge_id: str | None
    replayed: bool
    http_status: int | None

    @classmethod
    def of(
        cls,
        t_ms: int,
        effect: ProviderCharge,
        outcome: str,
        charge_id: str | None,
        replayed: bool,
        status: int | None,
    ) -> CallRecord:
        return cls(
            t_ms=t_ms,
            idempotency_key=effect.idempotency_key,
            amount=effect.amount,
            currency=effect.currency,
            source=effect.source,
            metadata=effect.metadata_dict(),
            outcome=outcome,
            charge_id=charge_id,
            replayed=replayed,
            http_status=status,
        )


def keep_call(
    calls: list[CallRecord], keep: int, call_log_path: str | None, record: CallRecord
) -> None:
    """Keep the first ``keep`` calls in memory and append every call to the JSON-lines call
    log the audit reads when the provider cannot list its charges (every adapter's log)."""
    if len(calls) < keep:
        calls.append(record)
    if call_log_path:
        line = json.dumps(
            {**asdict(record), "metadata": dict(record.metadata)}, separators=(",", ":")
        )
        with open(call_log_path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def _replayed(headers: Mapping[str, str] | None) -> bool:
    if not headers:
        return False
    for name, value in headers.items():
        if name.lower() == "idempotent-replayed":
            return str(value).lower() == "true"
    return False


def _error_charge_id(exc: stripe.StripeError) -> str | None:
    body = exc.json_body
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            charge = err.get("charge")
            if isinstance(charge, str):
                return charge
    return None


def _error_field(exc: stripe.StripeError, name: str) -> str | None:
    body = exc.json_body
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and isinstance(err.get(name), str):
            return str(err[name])
    return None


def _error_type(exc: stripe.StripeError) -> str | None:
    return _error_field(exc, "type")


def as_dict(obj: Any) -> dict[str, Any]:
    """A plain dict of a ``StripeObject`` (which is not a dict in stripe-python >= 12)."""
    if isinstance(obj, dict):
        return obj
    return dict(obj.to_dict())


def charge_from_object(obj: Any, *, replayed: bool = False) -> ChargeResult:
    charge = as_dict(obj)
    succeeded = charge.get("status") == "succeeded"
    decline = None if succeeded else (charge.get("failure_code") or "card_declined")
    return ChargeResult(
        charge_id=charge.get("id"),
        succeeded=succeeded,
        amount=int(charge.get("amount") or 0),
        currency=str(charge.get("currency")),
        decline_code=decline,
        replayed=replayed,
    )


def listed(obj: Any) -> ListedCharge:
    charge = as_dict(obj)
    md = dict(charge.get("metadata") or {})
    created = charge.get("created")
    return ListedCharge(
        id=str(charge.get("id")),
        amount=int(charge.get("amount") or 0),
        currency=str(charge.get("currency")),
        succeeded=charge.get("status") == "succeeded",
        merchant=str(md.get("merchant", "")),
        key=str(md.get("idempotency_key", "")),
        order=str(md.get("order", "")),
        provider_key="",
        source=str((charge.get("source") or {}).get("id", "")) if charge.get("source") else "",
        created_ms=int(created) * 1000 if created is not None else 0,
    )


@dataclass
class StripeProvider:
    """The charge endpoint, retrieval and listing over the SDK's async HTTPX client."""

    api_base: str
    api_key: str
    timeout_s: float = 30.0
    call_log_path: str | None = None
    calls: list[CallRecord] = field(default_factory=list)
    keep_calls: int = 10_000
    client: stripe.StripeClient = field(init=False)
    _http: PooledHTTPXClient = field(init=False, repr=False)
    _seen: dict[str, ChargeResult] = field(default_factory=dict, init=False, repr=False)
    _by_payment: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False)
    _high_water: int | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._http = PooledHTTPXClient(self.timeout_s)
        self.client = stripe.StripeClient(
            self.api_key,
            base_addresses={"api": self.api_base.rstrip("/")},
            http_client=self._http,
            max_network_retries=0,
        )

    async def close(self) -> None:
        """Close the connections to the provider."""
        await self._http.pool.aclose()

    # --- charge ---------------------------------------------------------------------------

    async def charge(self, effect: ProviderCharge) -> ChargeResult:
        params: dict[str, Any] = {
            "amount": effect.amount,
            "currency": effect.currency,
            "source": effect.source,
            "metadata": effect.metadata_dict(),
        }
        options: dict[str, Any] = {"idempotency_key": effect.idempotency_key}
        status: int | None = None
        try:
            charge = await self.client.v1.charges.create_async(params, options)  # type: ignore[arg-type]
        except stripe.StripeError as exc:
            status = exc.http_status
            try:
                result = self._map_error(exc, effect)
            except Exception as fault:
                self._log(effect, type(fault).__name__, None, _replayed(exc.headers), status)
                raise
            self._log(effect, "declined", result.charge_id, result.replayed, status)
            return result
        replayed = False
        last = charge.last_response
        if last is not None:
            replayed = _replayed(last.headers)
            status = last.code
        result = charge_from_object(charge, replayed=replayed)
        self._log(
            effect,
            "succeeded" if result.succeeded else "declined",
            result.charge_id,
            replayed,
            status,
        )
        return result

    def _map_error(self, exc: stripe.StripeError, effect: ProviderCharge) -> ChargeResult:
        status = exc.http_status
        replayed = _replayed(exc.headers)
        if isinstance(exc, stripe.APIConnectionError):
            cause = exc.__cause__
            if isinstance(cause, _NOT_SENT):
                raise Unavailable(f"stripe: not reachable: {cause!r}") from exc
            raise OutcomeUnknown(f"stripe: request outcome unknown: {exc.user_message}") from exc
        if status == 409:
            raise Conflict(f"stripe: 409 {exc.code or 'idempotency_key_in_use'}") from exc
        if isinstance(exc, stripe.IdempotencyError) or _error_type(exc) == "idempotency_error":
            raise IdempotencyMismatch(f"stripe: {exc.user_message}") from exc
        if isinstance(exc, stripe.CardError) or status == 402:
            decline = _error_field(exc, "decline_code") or exc.code or "card_declined"
            return ChargeResult(
                _error_charge_id(exc), False, effect.amount, effect.currency, decline, replayed
            )
        if isinstance(exc, stripe.RateLimitError) or status == 429:
            raise Unavailable("stripe: 429 rate limited (not saved; safe to retry)") from exc
        if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError) or status in (
            401,
            403,
        ):
            raise Unavailable(f"stripe: {status} refused credentials: {exc.user_message}") from exc
        if status is not None and status >= 500:
            raise OutcomeUnknown(f"stripe: {status} {exc.code or 'api_error'}") from exc
        if isinstance(exc, stripe.InvalidRequestError) or status == 400:
            return ChargeResult(
                None, False, effect.amount, effect.currency, exc.code or "invalid_request", replayed
            )
        raise OutcomeUnknown(f"stripe: unexpected {type(exc).__name__} {status}") from exc

    def _log(
        self,
        effect: ProviderCharge,
        outcome: str,
        charge_id: str | None,
        replayed: bool,
        status: int | None,
    ) -> None:
        now_ms = time.time_ns() // 1_000_000
        record = CallRecord.of(now_ms, effect, outcome, charge_id, replayed, status)
        keep_call(self.calls, self.keep_calls, self.call_log_path, record)

    # --- lookups --------------------------------------------------------------------------

    async def retrieve(self, charge_id: str) -> ChargeResult | None:
        try:
            charge = await self.client.v1.charges.retrieve_async(charge_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return None
            raise Unavailable(f"stripe: {exc.user_message}") from exc
        except stripe.StripeError as exc:
            raise Unavailable(f"stripe: lookup failed: {exc.user_message}") from exc
        return charge_from_object(charge)

    async def _pages(self, max_pages: int) -> AsyncGenerator[list[dict[str, Any]], None]:
        """The provider's charge list page by page, newest first, paged by ``starting_after``;
        past ``max_pages`` pages with more to come it refuses rather than list forever."""
        starting_after: str | None = None
        for _ in range(max_pages):
            params: dict[str, Any] = {"limit": PAGE_SIZE}
            if starting_after is not None:
                params["starting_after"] = starting_after
            try:
                page = await self.client.v1.charges.list_async(params)  # type: ignore[arg-type]
            except stripe.StripeError as exc:
                raise Unavailable(f"stripe: list failed: {exc.user_message}") from exc
            data = [as_dict(c) for c in page.data]
            yield data
            if not page.has_more or not data:
                return
            starting_after = str(data[-1]["id"])
            await asyncio.sleep(0)
        raise Unavailable(f"stripe: more than {max_pages} pages of charges; listing stopped")

    async def list_raw(self, *, max_pages: int = MAX_LIST_PAGES) -> list[dict[str, Any]]:
        """Every charge the provider lists, newest first."""
        out: list[dict[str, Any]] = []
        async for data in self._pages(max_pages):
            out.extend(data)
        return out

    async def list_charges(self) -> list[ListedCharge]:
        return [listed(c) for c in await self.list_raw()]

    async def charges_for_payment(self, payment_id: str) -> tuple[ChargeResult, ...]:
        """The charges whose metadata names ``payment_id``, oldest first (which one counts is
        the reconcile flow's decision).

        Neither Stripe's list nor the mock's filters on metadata, so the adapter keeps an
        index of every charge it has listed and refreshes it incrementally before each lookup
        (see ``refresh_index``): one lookup costs the pages of charges made since the last.
        """
        await self.refresh_index()
        return tuple(self._seen[i] for i in self._by_payment.get(payment_id, ()))

    async def refresh_index(self, *, max_pages: int = MAX_LIST_PAGES) -> int:
        """Add charges made since the last refresh; returns how many were new.

        Lists newest first and stops at the first page holding a charge created more than
        ``INDEX_MARGIN_S`` before the newest charge seen last time: every charge made after
        that refresh was created no earlier than that newest one (one provider clock), so
        everything further down the list is already indexed.
        """
        cutoff = None if self._high_water is None else self._high_water - INDEX_MARGIN_S
        fresh: dict[str, tuple[ChargeResult, str | None]] = {}  # listing order: newest first
        newest = self._high_water
        pages = self._pages(max_pages)
        async for data in pages:
            older = False
            for c in data:
                created = int(c.get("created") or 0)
                newest = created if newest is None else max(newest, created)
                older = older or (cutoff is not None and created < cutoff)
                cid = str(c["id"])
                if cid not in self._seen and cid not in fresh:
                    pid = (c.get("metadata") or {}).get("payment_id")
                    fresh[cid] = (charge_from_object(c), None if pid is None else str(pid))
            if older:
                await pages.aclose()
                break
        # Commit only a complete refresh, oldest first, so lists stay in charge order.
        for cid, (result, pid) in reversed(list(fresh.items())):
            self._seen[cid] = result
            if pid is not None:
                self._by_payment.setdefault(pid, []).append(cid)
        self._high_water = newest
        return len(fresh)

    async def ping(self) -> bool:
        try:
            await self.client.v1.charges.list_async({"limit": 1})
        except stripe.StripeError as exc:
            raise Unavailable(f"stripe: {exc.user_message or exc}") from exc
        return True
