"""The HTTP answers the load clients get, mapped to the events the checker judges."""

from __future__ import annotations

import json
import random

from core.domain import PaymentRequest
from loadtests.wire import (
    choose_source,
    new_request,
    parse_answer,
    request_record,
    response_record,
    transport_error,
)

BODY = {
    "status": "paid",
    "code": "payment_completed",
    "payment": {
        "id": "pay_1",
        "merchant": "m",
        "order": "o1",
        "amount": 1999,
        "currency": "usd",
        "charge": "ch_1",
    },
}


def test_a_replay_keeps_the_payment_facts_and_the_replay_flag() -> None:
    answer, payment = parse_answer(201, {"idempotent-replayed": "true"}, json.dumps(BODY), 3.0)
    assert (answer.status, answer.outcome, answer.payment_id) == (201, "paid", "pay_1")
    assert answer.replayed and answer.final and not answer.retryable
    assert payment["charge"] == "ch_1"


def test_a_header_seen_twice_arrives_as_a_tuple_and_the_last_value_counts() -> None:
    answer, _ = parse_answer(409, {"Retry-After": ("5", "1")}, b'{"status":"in_flight"}', 1.0)
    assert answer.outcome == "in_flight" and answer.retry_after_s == 1.0 and answer.retryable


def test_a_body_that_is_not_json_falls_back_on_the_status() -> None:
    assert parse_answer(402, {}, "<html>declined</html>", 1.0)[0].outcome == "failed"
    assert parse_answer(502, {}, "bad gateway", 1.0)[0].outcome == "error"
    assert parse_answer(422, {}, "", 1.0)[0].outcome == "rejected"


def test_a_timeout_says_nothing_final() -> None:
    answer = transport_error("client_timeout", 5000.0)
    assert answer.status == 0 and answer.outcome == "error" and answer.retryable


def test_events_carry_the_request_and_the_answer() -> None:
    request = PaymentRequest("m", "o1", 1999, "usd", "tok_visa", "k1")
    req = request_record(7, "a1", "payer-1", request, "http://127.0.0.1:8001")
    assert (req.kind, req.key, req.amount, req.detail) == (
        "request", "k1", 1999, "target=http://127.0.0.1:8001"
    )  # fmt: skip
    answer, payment = parse_answer(201, {}, json.dumps(BODY), 4.0)
    resp = response_record(9, "a1", "payer-1", request, answer, payment)
    assert (resp.kind, resp.status, resp.outcome, resp.charge_id) == (
        "response", 201, "paid", "ch_1"
    )  # fmt: skip
    assert resp.amount == 1999 and resp.payment_merchant == "m" and resp.fingerprint


def test_fresh_keys_carry_the_run_prefix_and_sources_follow_the_rates() -> None:
    rng = random.Random(1)
    request = new_request(rng, "ltabc-m0", "tok_visa")
    assert request.idempotency_key.startswith("ltabc-k-")
    sources = [choose_source(rng, 0.0, 1.0) for _ in range(50)]
    assert set(sources) <= {"tok_500", "tok_429"} and len(set(sources)) == 2
    assert {choose_source(rng, 0.0, 0.0) for _ in range(50)} <= {
        "tok_visa", "tok_mastercard", "tok_amex"
    }  # fmt: skip
