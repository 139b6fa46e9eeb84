"""An event's row of values gives the event back: what the history files rely on."""

from __future__ import annotations

from dataclasses import fields

from core.history import Event

SPECIAL = {"t": 7, "amount": 1999, "status": 201, "replayed": True}


def test_an_event_round_trips_through_its_values() -> None:
    # Every field set to a value of its own, so a swapped or missing field shows.
    values = [SPECIAL.get(f.name, f"{f.name}-value") for f in fields(Event)]
    event = Event(*values)
    assert event.values() == tuple(values)
    assert Event(*event.values()) == event
