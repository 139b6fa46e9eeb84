"""Request validation names the bad field; the fingerprint covers the payload, not the key."""

from __future__ import annotations

import pytest

from core.domain import MAX_AMOUNT, PaymentRequest, ValidationError, fingerprint


def make(**changes: object) -> PaymentRequest:
    fields: dict[str, object] = dict(
        merchant="m-1", order="o-1", amount=1999, currency="usd", source="tok_visa",
        idempotency_key="key-1",
    )  # fmt: skip
    fields.update(changes)
    return PaymentRequest(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"idempotency_key": ""}, "idempotency_key", "required"),
        ({"idempotency_key": "x" * 256}, "idempotency_key", "at most 255"),
        ({"idempotency_key": "tab\there"}, "idempotency_key", "printable ASCII"),
        ({"idempotency_key": "caf\u00e9"}, "idempotency_key", "printable ASCII"),
        ({"idempotency_key": 12}, "idempotency_key", "string"),
        ({"amount": 0}, "amount", "between 1 and"),
        ({"amount": MAX_AMOUNT + 1}, "amount", "between 1 and"),
        ({"amount": 19.99}, "amount", "integer"),
        ({"amount": True}, "amount", "integer"),
        ({"currency": "xyz"}, "currency", "not an ISO 4217"),
        ({"currency": "USD"}, "currency", "lower-case"),
        ({"merchant": " "}, "merchant", "non-empty"),
        ({"order": ""}, "order", "non-empty"),
        ({"source": ""}, "source", "non-empty"),
        ({"metadata": {"a": 1}}, "metadata", "strings"),
    ],
)
def test_each_bad_field_gets_its_own_error(
    changes: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(ValidationError) as info:
        make(**changes)
    assert info.value.field == field
    assert words in info.value.message


def test_boundaries_are_accepted() -> None:
    make(idempotency_key="k" * 255, amount=MAX_AMOUNT)
    make(idempotency_key=" ~", amount=1, currency="jpy")


def test_from_json_names_a_missing_field() -> None:
    with pytest.raises(ValidationError) as info:
        PaymentRequest.from_json({"merchant": "m", "order": "o", "amount": 5}, "k")
    assert info.value.field == "currency"


def test_fingerprint_ignores_the_key_and_sees_the_payload() -> None:
    base = make()
    assert fingerprint(base) == fingerprint(make(idempotency_key="other"))
    assert fingerprint(base) != fingerprint(make(amount=2000))
    assert fingerprint(base) != fingerprint(make(order="o-2"))
    assert fingerprint(base) != fingerprint(make(metadata={"note": "x"}))
    assert fingerprint(base, include_amount=False) == fingerprint(
        make(amount=2000), include_amount=False
    )
    assert fingerprint(make(metadata={"a": "1", "b": "2"})) == fingerprint(
        make(metadata={"b": "2", "a": "1"})
    )
