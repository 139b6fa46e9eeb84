"""Exhaustive interleavings: every order in which a few flows' effects can run.

Depth-first over schedules, replaying each prefix from scratch on a fresh world (flows are
generators and cannot be copied). Two prefixes that reach the same world state with every
flow having been told the same things are the same state, so it is explored once and the
number of complete schedules through it is counted, not re-walked. The count reported is
the number of distinct complete orders of effects, each judged by the checker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from core.checker import Verdict, check
from core.domain import PaymentRequest
from core.models.stripe_model import StripeModel
from core.runtime.stepper import Stepper
from core.runtime.world import World
from core.variants import Variant

Judge = Callable[[World], Verdict]


@dataclass(slots=True)
class Exploration:
    """What an exhaustive run found: schedules, distinct states, and failing schedules."""

    schedules: int = 0
    states: int = 0
    terminals: int = 0
    failures: list[tuple[tuple[str, ...], Verdict]] = field(default_factory=list)


def world_state(stepper: Stepper) -> tuple[object, ...]:
    """Everything that decides what happens next: models, clock, and each flow's transcript."""
    w = stepper.world
    redis = tuple(sorted((k, repr(e.value), e.expires_at) for k, e in w.redis._data.items()))
    payments = tuple(sorted(repr(p) for p in w.postgres.payments.values()))
    orders = tuple(sorted(w.postgres.orders.items()))
    charges = tuple(sorted(repr(c) for c in w.stripe.charges.values()))
    provider = w.stripe
    if isinstance(provider, StripeModel):
        keys: tuple[object, ...] = tuple(
            sorted((k, e.params, e.executing, repr(e.saved)) for k, e in provider._keys.items())
        )
    else:
        keys = tuple(sorted((k, e.executing, e.capture_id) for k, e in provider._keys.items()))
    flows = tuple(
        (a, tuple(f.driver.transcript or ()), f.ticket is not None)
        for a, f in sorted(stepper.flows.items())
    )
    done = tuple(sorted((a, repr(r)) for a, r in stepper.finished.items()))
    return (w.clock.now, redis, payments, orders, charges, keys, flows, done)


def explore(
    variant: Variant,
    requests: Sequence[PaymentRequest],
    *,
    judge: Judge | None = None,
    max_failures: int = 5,
) -> Exploration:
    """Run ``requests`` concurrently in every order of their effects; judge each ending."""
    result = Exploration()
    memo: dict[tuple[object, ...], int] = {}

    def judge_world(world: World) -> Verdict:
        if world.clock.now >= variant.lock_ttl_ms:
            raise RuntimeError("exploration reached the lock TTL; the clock reduction is unsound")
        return check(world.history, world.final_state(), eventual=False)

    verdict_of = judge or judge_world

    def build(path: tuple[str, ...]) -> Stepper:
        stepper = Stepper(World(variant), keep_transcripts=True)
        for i, r in enumerate(requests):
            stepper.submit(r, client=f"client-{i}")
        for attempt in path:
            stepper.step(attempt)
        return stepper

    def visit(path: tuple[str, ...], stepper: Stepper) -> int:
        path = path + run_local_steps(stepper)
        if not stepper.flows:
            result.terminals += 1
            verdict = verdict_of(stepper.world)
            if not verdict.ok and len(result.failures) < max_failures:
                result.failures.append((path, verdict))
            return 1
        key = world_state(stepper)
        if key in memo:
            return memo[key]
        result.states += 1
        choices = stepper.in_flight()
        total = 0
        for i, attempt in enumerate(choices):
            # the last choice reuses this stepper; the others replay the prefix afresh
            child = stepper if i == len(choices) - 1 else build(path)
            child.step(attempt)
            total += visit((*path, attempt), child)
        memo[key] = total
        return total

    result.schedules = visit((), build(()))
    return result


LOCAL_EFFECTS = ("ClockRead", "Sleep")


def run_local_steps(stepper: Stepper) -> tuple[str, ...]:
    """Take clock reads and sleeps at once, without branching on them.

    They touch no shared model, only the clock, and the clock matters to other flows only
    through expiries (lock TTL, cache TTL, the provider's key window) that a short
    exploration never reaches; ``explore`` asserts that. This is a partial-order reduction:
    orders that differ only in where such steps fall reach the same states.
    """
    taken: list[str] = []
    progressed = True
    while progressed:
        progressed = False
        for attempt in stepper.in_flight():
            flow = stepper.flows.get(attempt)
            if flow is not None and flow.pending_name in LOCAL_EFFECTS:
                stepper.step(attempt)
                taken.append(attempt)
                progressed = True
    return tuple(taken)
