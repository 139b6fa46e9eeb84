"""The cached answer's JSON: every field round-trips; the stored copy is never a replay."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import pytest

from core.domain import Outcome, Response
from live.redis_store import response_from_json, response_to_json


@pytest.mark.parametrize("outcome", list(Outcome))
def test_a_cached_response_round_trips_and_is_stored_as_the_original(outcome: Outcome) -> None:
    full = Response(
        201, outcome, "code", "msg", "pay_1", "m", "o", 1999, "usd", "ch_1", "fp", True, 3
    )
    bare = Response(409, outcome, "in_flight")
    for response in (full, bare):
        text = response_to_json(response)
        assert response_from_json(text) == replace(response, replayed=False)
        expected = {**asdict(response), "outcome": outcome.value, "replayed": False}
        assert json.loads(text) == expected
