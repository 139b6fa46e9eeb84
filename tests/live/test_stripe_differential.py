"""Differential test: the same Hypothesis-generated sequences of charge calls go to the
in-memory ``StripeModel`` and, through the live adapter (official SDK), to
stripe-stateful-mock. Status class, error type, decline code, replay marker, which calls
return the same charge, and the number of charges made must agree.

Known differences of the mock (not compared here, documented in the report and below):
- it never answers 409 ``idempotency_key_in_use``: it handles requests one at a time, so a
  concurrent same-key request is a replay; the model's 409 comes from a request held
  'executing' (``begin``/``finish``), which a sequential sequence never produces;
- an unknown source token is a 500 ``Unexpected error`` (saved for the key), where Stripe
  answers 400 ``resource_missing``; sequences use known test tokens only;
- it forgets everything on restart and keeps keys forever (no 24 h window).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.effects import (
    ChargeResult,
    Conflict,
    IdempotencyMismatch,
    OutcomeUnknown,
    ProviderCharge,
    Unavailable,
)
from core.models.stripe_model import StripeModel
from live.stripe_provider import StripeProvider
from tests.live.conftest import LiveRun

pytestmark = [
    pytest.mark.live,
    # stripe-python's HTTPX client posts form bodies with data=bytes; httpx deprecates that.
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]

SOURCES = [
    "tok_visa",
    "tok_mastercard",
    "tok_chargeDeclined",
    "tok_chargeDeclinedInsufficientFunds",
    "tok_chargeDeclinedIncorrectCvc",
    "tok_chargeDeclinedExpiredCard",
    "tok_500",
    "tok_429",
]
AMOUNTS = [30, 1999, 2500]  # 30 is under the usd minimum of 50
CURRENCIES = ["usd", "eur"]

call = st.tuples(
    st.integers(0, 2),  # which key
    st.sampled_from(AMOUNTS),
    st.sampled_from(CURRENCIES),
    st.sampled_from(SOURCES),
    st.sampled_from(["a", "b"]),  # a metadata value: the same key with another value mismatches
)
sequences = st.lists(call, min_size=1, max_size=10)

Observation = tuple[Any, ...]


def observe(result: ChargeResult | BaseException, ids: dict[str, int]) -> Observation:
    """What a caller can tell apart; charge ids become 'the n-th distinct charge'."""
    if isinstance(result, IdempotencyMismatch):
        return ("mismatch",)
    if isinstance(result, OutcomeUnknown):
        return ("unknown",)
    if isinstance(result, Unavailable):
        return ("unavailable",)
    if isinstance(result, Conflict):
        return ("conflict",)
    if isinstance(result, BaseException):
        raise result
    ordinal = None
    if result.charge_id is not None:
        ordinal = ids.setdefault(result.charge_id, len(ids))
    kind = "succeeded" if result.succeeded else "declined"
    return (kind, result.decline_code, result.replayed, ordinal, result.amount, result.currency)


def effect_for(ns: str, op: tuple[int, int, str, str, str]) -> ProviderCharge:
    key, amount, currency, source, tag = op
    return ProviderCharge(
        idempotency_key=f"{ns}-{key}",
        amount=amount,
        currency=currency,
        source=source,
        metadata=(("ns", ns), ("tag", tag)),
    )


def run_model(effects: list[ProviderCharge]) -> tuple[list[Observation], int]:
    model = StripeModel(clock=lambda: 0)
    ids: dict[str, int] = {}
    out: list[Observation] = []
    for e in effects:
        result: ChargeResult | BaseException
        try:
            result = model.charge(
                e.idempotency_key, e.amount, e.currency, e.source, e.metadata_dict()
            )
        except (IdempotencyMismatch, OutcomeUnknown, Unavailable, Conflict) as exc:
            result = exc
        out.append(observe(result, ids))
    return out, len(model.charges)


async def _capture(
    fn: Callable[[], Awaitable[ChargeResult]],
) -> ChargeResult | BaseException:
    try:
        return await fn()
    except (IdempotencyMismatch, OutcomeUnknown, Unavailable, Conflict) as exc:
        return exc


def run_mock(run: LiveRun, ns: str, effects: list[ProviderCharge]) -> tuple[list[Observation], int]:
    async def go() -> tuple[list[Observation], int]:
        provider = StripeProvider(run.config.stripe_api_base, run.config.stripe_api_key)
        ids: dict[str, int] = {}
        out: list[Observation] = []
        for e in effects:
            out.append(observe(await _capture(lambda e=e: provider.charge(e)), ids))  # type: ignore[misc]
        listed = [c for c in await provider.list_raw() if c["metadata"].get("ns") == ns]
        return out, len(listed)

    return asyncio.run(go())


def test_model_and_mock_agree_on_charge_sequences(live: LiveRun) -> None:
    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(ops=sequences)
    def check(ops: list[tuple[int, int, str, str, str]]) -> None:
        ns = uuid.uuid4().hex[:16]
        effects = [effect_for(ns, op) for op in ops]
        model_obs, model_count = run_model(effects)
        mock_obs, mock_count = run_mock(live, ns, effects)
        for i, (m, k) in enumerate(zip(model_obs, mock_obs, strict=True)):
            assert m == k, f"call {i} {ops[i]}: model {m} != mock {k}\nsequence: {ops}"
        assert model_count == mock_count, f"charges: model {model_count} != mock {mock_count}"

    check()


def test_known_difference_mock_never_answers_409_for_concurrent_same_key(live: LiveRun) -> None:
    """Pins the documented difference: Stripe (and the model, for a request still executing)
    answers 409 ``idempotency_key_in_use``; the mock serialises same-key requests into one
    charge and replays. If this starts failing the mock changed: update the docs and the
    differential test."""
    ns = uuid.uuid4().hex[:16]
    effect = effect_for(ns, (0, 1999, "usd", "tok_visa", "a"))

    async def go() -> list[ChargeResult | BaseException]:
        provider = StripeProvider(live.config.stripe_api_base, live.config.stripe_api_key)
        return list(
            await asyncio.gather(*(_capture(lambda: provider.charge(effect)) for _ in range(20)))
        )

    results = asyncio.run(go())
    assert all(isinstance(r, ChargeResult) for r in results), results
    charges = {r.charge_id for r in results if isinstance(r, ChargeResult)}
    fresh = [r for r in results if isinstance(r, ChargeResult) and not r.replayed]
    assert len(charges) == 1 and len(fresh) == 1

    model = StripeModel(clock=lambda: 0)
    ticket = model.begin(effect.idempotency_key, 1999, "usd", "tok_visa", effect.metadata_dict())
    assert not isinstance(ticket, ChargeResult)
    with pytest.raises(Conflict):
        model.begin(effect.idempotency_key, 1999, "usd", "tok_visa", effect.metadata_dict())
