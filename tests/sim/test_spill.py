"""The settle phase's first requests round-trip through disk unchanged and in order."""

from __future__ import annotations

from dataclasses import fields

import pytest

from core.domain import PaymentRequest, fingerprint
from sim.spill import SpilledRequests


def _request(i: int) -> PaymentRequest:
    metadata = {"note": f"n{i}", "a": "1"} if i % 3 == 0 else {}
    return PaymentRequest(f"m{i % 2}", f"o{i}", 100 + i, "usd", "tok_visa", f"k{i}", metadata)


def test_requests_come_back_equal_and_in_order_across_batches() -> None:
    spilled = SpilledRequests(batch=4)
    sent = [_request(i) for i in range(11)]  # two full batches and three pending
    for r in sent:
        spilled.append(r)
    assert len(spilled) == 11
    back = list(spilled)
    assert back == sent
    assert back[3].metadata == {"a": "1", "note": "n3"}
    for a, b in zip(back, sent, strict=True):  # rebuilt without __init__: every field as made
        assert [getattr(a, f.name) for f in fields(PaymentRequest)] == [
            getattr(b, f.name) for f in fields(PaymentRequest)
        ]
        assert type(a.metadata) is type(b.metadata)
        assert fingerprint(a) == fingerprint(b)
    assert list(spilled) == sent  # read twice, same again


def test_appends_after_reading_are_read_next_time() -> None:
    spilled = SpilledRequests(batch=2)
    spilled.append(_request(0))
    assert [r.order for r in spilled] == ["o0"]
    for i in (1, 2, 3):
        spilled.append(_request(i))
    assert [r.order for r in spilled] == ["o0", "o1", "o2", "o3"]


def test_an_iteration_ends_where_it_started() -> None:
    spilled = SpilledRequests(batch=1)
    spilled.append(_request(0))
    seen = []
    for r in spilled:
        seen.append(r.order)
        spilled.append(_request(len(seen) + 10))
    assert seen == ["o0"] and len(spilled) == 2


def test_a_batch_of_less_than_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        SpilledRequests(batch=0)
