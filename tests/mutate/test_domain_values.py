"""The domain's values as the HTTP edge and the checker read them: a JSON body becomes the
request it names, each refusal names its field with the message the 400 body carries, and a
response's body, replay and agreement are the documented ones. Part of mutmut's kill suite:
``tests/core/test_domain.py`` checks which field is named, these check what is said."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from core.domain import (
    NO_METADATA,
    IllegalTransition,
    Outcome,
    Payment,
    PaymentRequest,
    PaymentState,
    Response,
    ValidationError,
    check_transition,
    fingerprint,
    payment_response,
    validate_idempotency_key,
)

BODY: dict[str, Any] = {
    "merchant": "m-1",
    "order": "o-1",
    "amount": 1999,
    "currency": "usd",
    "source": "tok_visa",
    "metadata": {"b": "2", "a": "1"},
}


def refusal(body: dict[str, Any], key: str = "k-1") -> ValidationError:
    with pytest.raises(ValidationError) as info:
        PaymentRequest.from_json(body, key)
    return info.value


def test_a_json_body_becomes_the_request_it_names() -> None:
    request = PaymentRequest.from_json(BODY, "k-1")
    assert (request.merchant, request.order, request.amount, request.currency) == (
        "m-1",
        "o-1",
        1999,
        "usd",
    )
    assert (request.source, request.idempotency_key) == ("tok_visa", "k-1")
    assert dict(request.metadata) == {"a": "1", "b": "2"}
    for empty in (None, {}):
        assert dict(PaymentRequest.from_json({**BODY, "metadata": empty}, "k").metadata) == {}
    without = {k: v for k, v in BODY.items() if k != "metadata"}
    assert dict(PaymentRequest.from_json(without, "k").metadata) == {}


@pytest.mark.parametrize("name", ["merchant", "order", "amount", "currency", "source"])
def test_each_missing_field_is_named_as_required(name: str) -> None:
    error = refusal({k: v for k, v in BODY.items() if k != name})
    assert (error.field, error.message, str(error)) == (name, "is required", f"{name}: is required")


def test_metadata_must_be_an_object() -> None:
    error = refusal({**BODY, "metadata": ["a"]})
    assert (error.field, error.message) == ("metadata", "must be an object of strings")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (7, "must be a string"),
        ("", "is required and must not be empty"),
        ("x" * 256, "is 256 characters long; at most 255 allowed"),
        ("a\tb", "must be printable ASCII; found '\\t' (U+0009)"),
        ("caf\u00e9", "must be printable ASCII; found 'é' (U+00E9)"),
        ("a b\tc", "must be printable ASCII; found '\\t' (U+0009)"),
        ("del\x7f", "must be printable ASCII; found '\\x7f' (U+007F)"),
        ("~\t", "must be printable ASCII; found '\\t' (U+0009)"),
    ],
)
def test_a_bad_key_is_refused_with_its_reason(key: object, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_idempotency_key(key)
    assert (info.value.field, info.value.message) == ("idempotency_key", message)
    assert validate_idempotency_key(" ~x") == " ~x"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"merchant": ""}, "merchant: must be a non-empty string"),
        ({"order": " "}, "order: must be a non-empty string"),
        ({"amount": "5"}, "amount: must be an integer number of minor units"),
        ({"amount": 0}, "amount: must be between 1 and 99999999 minor units; got 0"),
        ({"amount": 10**8}, "amount: must be between 1 and 99999999 minor units; got 100000000"),
        ({"currency": "Usd"}, "currency: must be a lower-case ISO 4217 code, e.g. 'usd'"),
        ({"currency": 5}, "currency: must be a lower-case ISO 4217 code, e.g. 'usd'"),
        ({"currency": "xyz"}, "currency: 'xyz' is not an ISO 4217 code"),
        ({"source": " "}, "source: must be a non-empty payment source, e.g. 'tok_visa'"),
        ({"metadata": {"a": 1}}, "metadata: keys and values must be strings"),
    ],
)  # fmt: skip
def test_each_bad_field_is_refused_with_the_message_the_400_body_carries(
    change: dict[str, Any], message: str
) -> None:
    assert str(refusal({**BODY, **change})) == message


def test_the_payload_and_fingerprint_cover_everything_but_the_key() -> None:
    request = PaymentRequest.from_json(BODY, "k-1")
    payload = {
        "merchant": "m-1",
        "order": "o-1",
        "currency": "usd",
        "source": "tok_visa",
        "metadata": {"a": "1", "b": "2"},
    }
    assert request.payload(include_amount=False) == payload
    assert request.payload() == {**payload, "amount": 1999}
    assert list(request.payload()["metadata"]) == ["a", "b"]
    canonical = json.dumps({**payload, "amount": 1999}, sort_keys=True, separators=(",", ":"))
    full = hashlib.sha256(canonical.encode()).hexdigest()[:32]
    assert fingerprint(request) == full
    no_amount = fingerprint(request, include_amount=False)
    assert no_amount != full and len(no_amount) == 32
    assert fingerprint(request) == full  # the memo keeps the two apart
    fresh = PaymentRequest.from_json(BODY, "k-2")
    assert fingerprint(fresh, include_amount=False) == no_amount and fingerprint(fresh) == full


def row(state: PaymentState, error: str | None = None) -> Payment:
    return Payment("pay_1", "m-1", "o-1", "k-1", 1999, "usd", "tok_visa", "fp", "pk", state, 5,
                   "ch_1", error)  # fmt: skip


@pytest.mark.parametrize(
    ("state", "error", "status", "outcome", "code"),
    [
        (PaymentState.COMPLETED, None, 201, Outcome.PAID, "payment_completed"),
        (PaymentState.FAILED, "fraudulent", 402, Outcome.FAILED, "fraudulent"),
        (PaymentState.FAILED, None, 402, Outcome.FAILED, "payment_failed"),
        (PaymentState.PENDING, None, 202, Outcome.PENDING, "payment_processing"),
        (PaymentState.PROCESSING, None, 202, Outcome.PENDING, "payment_processing"),
        (PaymentState.RECONCILE, None, 202, Outcome.PENDING, "payment_processing"),
    ],
)
def test_a_row_is_answered_by_its_state(
    state: PaymentState, error: str | None, status: int, outcome: Outcome, code: str
) -> None:
    response = payment_response(row(state, error), 201, replayed=True)
    assert (response.status, response.outcome, response.code) == (status, outcome, code)
    assert response.final is (outcome in (Outcome.PAID, Outcome.FAILED))
    assert response.replayed and response.fingerprint == "fp" and response.message == ""
    assert response.body() == {
        "status": outcome.value,
        "code": code,
        "payment": {
            "id": "pay_1",
            "merchant": "m-1",
            "order": "o-1",
            "amount": 1999,
            "currency": "usd",
            "charge": "ch_1",
        },
    }
    assert not payment_response(row(state, error), 201).replayed


def test_a_replay_is_the_same_answer_marked_replayed() -> None:
    first = Response(409, Outcome.IN_FLIGHT, "busy", "wait", "p", "m", "o", 5, "usd", "c", "f",
                     False, 1)  # fmt: skip
    replay = first.as_replay()
    assert replay.replayed and replay == Response(
        409, Outcome.IN_FLIGHT, "busy", "wait", "p", "m", "o", 5, "usd", "c", "f", True, 1
    )
    assert replay.body() == first.body() and replay.same_answer(first)
    bare = Response(503, Outcome.ERROR, "backend_unavailable")
    assert bare.body() == {"status": "error", "code": "backend_unavailable"}
    assert Response(503, Outcome.ERROR, "x", "down").body() == {
        "status": "error",
        "code": "x",
        "message": "down",
    }


@pytest.mark.parametrize(
    "field", ["status", "outcome", "payment_id", "charge_id", "amount", "currency"]
)
def test_answers_disagree_on_any_payment_fact(field: str) -> None:
    base = payment_response(row(PaymentState.COMPLETED), 201)
    other: dict[str, Any] = {
        "status": 200,
        "outcome": Outcome.FAILED,
        "payment_id": "pay_2",
        "charge_id": "ch_2",
        "amount": 1,
        "currency": "eur",
    }
    changed = Response(**{**_fields(base), field: other[field]})
    assert not base.same_answer(changed) and not changed.same_answer(base)
    assert base.same_answer(Response(**{**_fields(base), "code": "x", "replayed": True}))


def _fields(response: Response) -> dict[str, Any]:
    return {name: getattr(response, name) for name in Response.__dataclass_fields__}


def test_a_row_evolves_keeping_its_facts_and_only_failed_rows_free_the_order() -> None:
    before = row(PaymentState.PENDING)
    after = before.evolve(PaymentState.FAILED, "ch_9", "expired_card")
    assert (after.state, after.charge_id, after.error) == (
        PaymentState.FAILED,
        "ch_9",
        "expired_card",
    )
    kept = ("id", "merchant", "order", "idempotency_key", "amount", "currency", "source",
            "fingerprint", "provider_key", "created_ms")  # fmt: skip
    assert all(getattr(after, name) == getattr(before, name) for name in kept)
    assert not after.live
    assert all(row(s).live for s in PaymentState if s is not PaymentState.FAILED)


def test_an_illegal_transition_names_the_payment_and_both_states() -> None:
    with pytest.raises(IllegalTransition) as info:
        check_transition("pay_1", PaymentState.COMPLETED, PaymentState.FAILED)
    error = info.value
    assert (error.payment_id, error.current, error.target) == (
        "pay_1",
        PaymentState.COMPLETED,
        PaymentState.FAILED,
    )
    assert str(error) == "payment pay_1: COMPLETED → FAILED is not an allowed transition"


def test_metadata_is_frozen_at_construction_and_empty_metadata_is_shared() -> None:
    given = {"note": "x"}
    request = PaymentRequest("m", "o", 5, "usd", "tok_visa", "k", given)
    print_before = fingerprint(request)
    given["note"] = "changed"
    assert dict(request.metadata) == {"note": "x"} and fingerprint(request) == print_before
    with pytest.raises(TypeError):
        request.metadata["note"] = "y"  # type: ignore[index]
    assert PaymentRequest("m", "o", 5, "usd", "tok_visa", "k", {}).metadata is NO_METADATA
    assert PaymentRequest("m", "o", 5, "usd", "tok_visa", "k").metadata is NO_METADATA
