"""The memory world's final state: copied for a run that goes on, taken for one that ends."""

from __future__ import annotations

from core.checker import check
from core.domain import PaymentRequest
from core.runtime.sync import MemoryRuntime
from core.runtime.world import World
from core.variants import HARDENED


def paid_world() -> World:
    world = World(HARDENED)
    runtime = MemoryRuntime(world)
    for n in range(5):
        source = "tok_chargeDeclined" if n == 3 else "tok_visa"
        request = PaymentRequest("m-1", f"o-{n}", 1999 + n, "usd", source, f"k-{n}")
        runtime.submit(request)
        runtime.submit(request)  # a replay
    return world


def test_taking_the_final_state_gives_what_copying_gives_and_empties_the_world() -> None:
    copied_from, taken_from = paid_world(), paid_world()
    copied = copied_from.final_state()
    taken = taken_from.take_final_state()
    assert taken == copied
    assert len(taken.charges) == 5 and len(taken.payments) == 5 and len(taken.orders) == 4
    assert check(taken_from.history, taken).ok
    # The world is left empty but working: a new payment starts from nothing.
    assert not taken_from.postgres.payments and not taken_from.stripe.charges
    assert taken_from.redis.keys() == []
    assert copied_from.postgres.payments, "copying leaves the world as it was"
    response = MemoryRuntime(taken_from).submit(
        PaymentRequest("m-1", "o-0", 1999, "usd", "tok_visa", "k-0")
    )
    assert response is not None and response.status == 201 and not response.replayed
