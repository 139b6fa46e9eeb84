"""Differential test: the same Hypothesis-generated sequences go to the in-memory
``PayPalModel`` and, through the live adapter (``paypal-server-sdk``), to the PayPal stand-in.
Operations: a one-step charge (three request ids, amounts, currencies, good, declining, 500 and
429 sources, two payment ids), a full refund of the n-th capture (PayPal's refund endpoint
through the SDK), a capture lookup by id, and the lookup by payment id (transaction search,
lag 0 here). What must agree: outcome class, decline code, replay marker, which calls answer
the same capture, the lookups' answers, and the number of captures made.

What this pins from the contract: a repeated ``PayPal-Request-Id`` answers the capture's
*latest* status (a refund in between shows), a repeat with another payload is not compared
(the first capture comes back), a 500 without an order is processed anew, declines are final
captures with a processor code, 429 executes nothing.

The stand-in delegates to the same model, so agreement checks the adapter, the wire format
both ways and the stand-in's handling, not PayPal itself (see the README's Providers section).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paypalserversdk.exceptions.api_exception import ApiException

from core.effects import ChargeResult, Conflict, OutcomeUnknown, ProviderCharge, Unavailable
from core.models.paypal_model import PayPalModel, capture_result
from live.paypal_provider import PayPalProvider
from tests.live.conftest import LiveRun

pytestmark = [pytest.mark.live]

SOURCES = [
    "tok_visa",
    "tok_chargeDeclined",
    "tok_chargeDeclinedInsufficientFunds",
    "tok_chargeDeclinedExpiredCard",
    "tok_500",
    "tok_429",
]
AMOUNTS = [30, 1999, 2500]
CURRENCIES = ["usd", "eur", "jpy"]

charge_op = st.tuples(
    st.just("charge"),
    st.integers(0, 2),  # which request id
    st.sampled_from(AMOUNTS),
    st.sampled_from(CURRENCIES),
    st.sampled_from(SOURCES),
    st.integers(0, 1),  # which payment id (custom_id)
)
refund_op = st.tuples(st.just("refund"), st.integers(0, 3))
retrieve_op = st.tuples(st.just("retrieve"), st.integers(0, 3))
lookup_op = st.tuples(st.just("lookup"), st.integers(0, 1))
ops_strategy = st.lists(
    st.one_of(charge_op, charge_op, refund_op, retrieve_op, lookup_op), min_size=1, max_size=10
)

Obs = tuple[Any, ...]


class Ordinals:
    """Capture ids → 'the n-th distinct capture' (the two sides number captures differently)."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.order: list[str] = []

    def of(self, charge_id: str | None) -> int | None:
        if charge_id is None:
            return None
        if charge_id not in self.ids:
            self.ids[charge_id] = len(self.ids)
            self.order.append(charge_id)
        return self.ids[charge_id]

    def nth(self, n: int) -> str | None:
        return self.order[n] if n < len(self.order) else None


def observe(result: ChargeResult | BaseException | None, ids: Ordinals) -> Obs:
    if result is None:
        return ("none",)
    if isinstance(result, OutcomeUnknown):
        return ("unknown",)
    if isinstance(result, Unavailable):
        return ("unavailable",)
    if isinstance(result, Conflict):
        return ("conflict",)
    if isinstance(result, BaseException):
        raise result
    kind = "succeeded" if result.succeeded else "declined"
    ordinal = ids.of(result.charge_id)
    return (kind, result.decline_code, result.replayed, ordinal, result.amount, result.currency)


def effect_for(ns: str, op: tuple[Any, ...]) -> ProviderCharge:
    _, key, amount, currency, source, pid = op
    return ProviderCharge(
        idempotency_key=f"{ns}-k{key}",
        amount=amount,
        currency=currency,
        source=source,
        metadata=(("merchant", ns), ("payment_id", f"{ns}-p{pid}")),
    )


def run_model(ns: str, ops: list[tuple[Any, ...]]) -> tuple[list[Obs], int]:
    model = PayPalModel(clock=lambda: 0, search_lag_ms=0)
    ids = Ordinals()
    out: list[Obs] = []
    for op in ops:
        result: ChargeResult | BaseException | None
        if op[0] == "charge":
            e = effect_for(ns, op)
            try:
                result = model.charge(
                    e.idempotency_key, e.amount, e.currency, e.source, e.metadata_dict()
                )
            except (OutcomeUnknown, Unavailable) as exc:
                result = exc
            out.append(observe(result, ids))
        elif op[0] == "refund":
            cid = ids.nth(op[1])
            if cid is None:
                out.append(("no capture",))
                continue
            try:
                model.refund(cid)
                out.append(("refunded",))
            except Conflict:
                out.append(("conflict",))
        elif op[0] == "retrieve":
            cid = ids.nth(op[1])
            found = model.retrieve(cid) if cid is not None else None
            out.append(observe(None if found is None else capture_result(found), ids))
        else:
            found_all = model.find_by_metadata("payment_id", f"{ns}-p{op[1]}")
            out.append(tuple(observe(capture_result(c), ids) for c in found_all))
    return out, len(model.charges)


async def _refund(provider: PayPalProvider, capture_id: str) -> Obs:
    options = {"capture_id": capture_id, "body": {}}
    try:
        await asyncio.to_thread(provider.client.payments.refund_captured_payment, options)
    except ApiException as exc:
        return ("conflict",) if exc.response_code == 422 else ("error", exc.response_code)
    return ("refunded",)


def run_standin(run: LiveRun, ns: str, ops: list[tuple[Any, ...]]) -> tuple[list[Obs], int]:
    cfg = run.config

    async def go() -> tuple[list[Obs], int]:
        provider = PayPalProvider(
            cfg.paypal_api_base, cfg.paypal_client_id, cfg.paypal_client_secret, timeout_s=10
        )
        ids = Ordinals()
        out: list[Obs] = []
        try:
            for op in ops:
                if op[0] == "charge":
                    result: ChargeResult | BaseException | None
                    try:
                        result = await provider.charge(effect_for(ns, op))
                    except (OutcomeUnknown, Unavailable, Conflict) as exc:
                        result = exc
                    out.append(observe(result, ids))
                elif op[0] == "refund":
                    cid = ids.nth(op[1])
                    out.append(("no capture",) if cid is None else await _refund(provider, cid))
                elif op[0] == "retrieve":
                    cid = ids.nth(op[1])
                    found = await provider.retrieve(cid) if cid is not None else None
                    out.append(observe(found, ids))
                else:
                    found_all = await provider.charges_for_payment(f"{ns}-p{op[1]}")
                    out.append(tuple(observe(c, ids) for c in found_all))
        finally:
            await provider.close()
        async with httpx.AsyncClient(timeout=10) as client:
            captures = (await client.get(f"{cfg.paypal_api_base}/_standin/captures")).json()
        mine = [c for c in captures["captures"] if str(c.get("custom_id", "")).startswith(ns)]
        return out, len(mine)

    return asyncio.run(go())


def check_sequence(run: LiveRun, ops: list[tuple[Any, ...]]) -> None:
    ns = uuid.uuid4().hex[:16]
    model_obs, model_count = run_model(ns, ops)
    standin_obs, standin_count = run_standin(run, ns, ops)
    for i, (m, s) in enumerate(zip(model_obs, standin_obs, strict=True)):
        assert m == s, f"op {i} {ops[i]}: model {m} != stand-in {s}\nsequence: {ops}"
    assert model_count == standin_count, f"captures: model {model_count} != {standin_count}"


def test_model_and_standin_agree_on_sequences(paypal_live: LiveRun) -> None:
    @settings(
        max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(ops=ops_strategy)
    def check(ops: list[tuple[Any, ...]]) -> None:
        check_sequence(paypal_live, ops)

    check()


def test_the_contracts_stories_agree(paypal_live: LiveRun) -> None:
    """The named cases, always run (Hypothesis may not draw them every time)."""
    visa = ("charge", 0, 1999, "usd", "tok_visa", 0)
    stories = [
        # repeat with the same id → the latest status; a refund in between shows
        [visa, visa, ("refund", 0), visa, ("retrieve", 0), ("lookup", 0)],
        # another payload under the same id → not compared: the first capture comes back
        [visa, ("charge", 0, 2500, "eur", "tok_chargeDeclined", 1), ("lookup", 1)],
        # a decline is a final capture with its processor code; its repeat replays it
        [("charge", 1, 1999, "usd", "tok_chargeDeclinedInsufficientFunds", 0)] * 2,
        # a 500 leaves nothing to replay: the repeat is processed anew; 429 executes nothing
        [("charge", 2, 1999, "usd", "tok_500", 0), ("charge", 2, 1999, "usd", "tok_visa", 0)],
        [("charge", 2, 1999, "usd", "tok_429", 0), ("lookup", 0), ("retrieve", 0)],
    ]
    for ops in stories:
        check_sequence(paypal_live, ops)


def test_simultaneous_same_request_id_makes_one_capture(paypal_live: LiveRun) -> None:
    """``fail`` reading: while the first request executes, a second with its id fails (outcome
    unknown); whatever the timing, one capture, and every success is that capture."""
    cfg = paypal_live.config
    ns = uuid.uuid4().hex[:16]
    effect = effect_for(ns, ("charge", 0, 1999, "usd", "tok_visa", 0))

    async def go() -> list[ChargeResult | BaseException]:
        provider = PayPalProvider(
            cfg.paypal_api_base, cfg.paypal_client_id, cfg.paypal_client_secret, timeout_s=10
        )
        try:
            return list(
                await asyncio.gather(
                    *(provider.charge(effect) for _ in range(10)), return_exceptions=True
                )
            )
        finally:
            await provider.close()

    results = asyncio.run(go())
    assert all(isinstance(r, ChargeResult | OutcomeUnknown) for r in results), results
    captures = {r.charge_id for r in results if isinstance(r, ChargeResult)}
    fresh = [r for r in results if isinstance(r, ChargeResult) and not r.replayed]
    assert len(captures) == 1 and len(fresh) == 1, results
    listed = httpx.get(f"{cfg.paypal_api_base}/_standin/captures", timeout=10).json()
    mine = [c for c in listed["captures"] if str(c.get("custom_id", "")).startswith(ns)]
    assert [c["id"] for c in mine] == list(captures)

    model = PayPalModel(clock=lambda: 0)
    ticket = model.begin(effect.idempotency_key, 1999, "usd", "tok_visa", effect.metadata_dict())
    assert not isinstance(ticket, ChargeResult)
    with pytest.raises(OutcomeUnknown):
        model.begin(effect.idempotency_key, 1999, "usd", "tok_visa", effect.metadata_dict())
