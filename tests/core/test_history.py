"""An event's row of values gives the event back: what the history files rely on."""

from __future__ import annotations

from dataclasses import fields

from core.domain import Outcome, PaymentRequest, Response, fingerprint
from core.history import (
    Event,
    History,
    Row,
    request_event,
    request_row,
    response_row,
)

SPECIAL = {"t": 7, "amount": 1999, "status": 201, "replayed": True}


def test_an_event_round_trips_through_its_values() -> None:
    # Every field set to a value of its own, so a swapped or missing field shows.
    values = [SPECIAL.get(f.name, f"{f.name}-value") for f in fields(Event)]
    event = Event(*values)
    assert event.values() == tuple(values)
    assert Event(*event.values()) == event


def _request() -> PaymentRequest:
    return PaymentRequest("m1", "o1", 1999, "usd", "tok_visa", "k1")


def _response() -> Response:
    return Response(status=201, outcome=Outcome.PAID, code="paid", message="ok", payment_id="p1",
                    amount=1999, currency="usd", charge_id="ch_1", merchant="m1", order="o1",
                    replayed=True)  # fmt: skip


def test_request_and_response_rows_are_their_events_values() -> None:
    request, response = _request(), _response()
    assert request_row(3, "a1", "c1", request) == request_event(3, "a1", "c1", request).values()
    assert Event(*response_row(4, "a1", "c1", request, response)) == Event(
        t=4, kind="response", attempt="a1", client="c1", merchant="m1", key="k1", order="o1",
        amount=1999, currency="usd", fingerprint=fingerprint(request), status=201,
        outcome="paid", code="paid", payment_id="p1", payment_merchant="m1",
        payment_order="o1", charge_id="ch_1", replayed=True, detail="ok",
    )  # fmt: skip


def test_a_row_reaches_every_listener_as_a_recorded_event_would() -> None:
    rows: list[Row] = []
    heard: list[Event] = []
    history = History(listeners=[heard.append], row_listeners=[rows.append])
    row = request_row(3, "a1", "c1", _request())
    history.record_row(row)
    history.record(Event(t=5, kind="note", detail="x"))
    assert history.events == heard == [Event(*row), Event(t=5, kind="note", detail="x")]
    assert rows == [row, Event(t=5, kind="note", detail="x").values()]
    assert History(keep=False).heard is False
    assert History(keep=False, row_listeners=[rows.append]).heard is True
