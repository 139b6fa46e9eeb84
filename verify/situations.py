"""Fixed situations on the memory runtime: the small, named stories the design must survive.

Each situation drives a ``Stepper`` through one story (double submit, lost provider reply,
crash after the charge, key reused with another payload, pay again with a new key), then
settles (``core.runtime.settle``: heals, reconciles, retries the keys its clients would
retry) and hands the history to the checker. Unlike the simulator's settle, which retries
every key, crash-after-charge retries none: its client never comes back, which is what
exposes the seed's orphan charge. Each states which properties it expects each variant to
break; anything else is a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.checker import PROPERTIES, Verdict, check
from core.domain import PaymentRequest
from core.providers import STRIPE, ProviderContract
from core.runtime.settle import settle
from core.runtime.stepper import Stepper
from core.runtime.world import World
from core.variants import HOUR_MS, VARIANTS, Variant, variant_named


def request(key: str, *, order: str = "o-1", amount: int = 1999, merchant: str = "m-1",
            source: str = "tok_visa") -> PaymentRequest:  # fmt: skip
    return PaymentRequest(merchant, order, amount, "usd", source, key)


def step_until(stepper: Stepper, attempt: str, effect_name: str, limit: int = 1000) -> None:
    """Step one flow until its pending effect is ``effect_name`` (e.g. 'ProviderCharge')."""
    for _ in range(limit):
        flow = stepper.flows.get(attempt)
        if flow is None:
            raise RuntimeError(f"{attempt} finished before reaching {effect_name}")
        if flow.pending_name == effect_name:
            return
        stepper.step(attempt)
    raise RuntimeError(f"{attempt} did not reach {effect_name} in {limit} steps")


# --- the stories --------------------------------------------------------------------------


def double_submit(stepper: Stepper) -> None:
    """Two servers get the same key at once; their effects alternate."""
    first = request("double-1")
    a, b = stepper.submit(first, "tap-1"), stepper.submit(first, "tap-2")
    while stepper.flows:
        for attempt in (a, b):
            if attempt in stepper.flows:
                stepper.step(attempt)
    settle(stepper, [first])


def lost_reply_then_retry(stepper: Stepper) -> None:
    """The provider charges but the reply is lost; the client retries with the same key."""
    first = request("lost-1")
    a = stepper.submit(first)
    step_until(stepper, a, "ProviderCharge")
    stepper.step(a)  # sent; the provider is executing it
    stepper.lose_provider_reply(a)
    stepper.run_to_end(a)
    stepper.run_to_end(stepper.submit(first))
    settle(stepper, [first])


def lost_reply_then_new_key(stepper: Stepper) -> None:
    """The reply is lost; the client, shown the answer, pays the same order with a new key."""
    first, second = request("lost-2"), request("again-2")
    a = stepper.submit(first)
    step_until(stepper, a, "ProviderCharge")
    stepper.step(a)
    stepper.lose_provider_reply(a)
    stepper.run_to_end(a)
    if stepper.finished[a].outcome.value != "paid":
        stepper.run_to_end(stepper.submit(second))
    settle(stepper, [first, second])


def crash_after_charge(stepper: Stepper) -> None:
    """The server dies after the provider charged, before it saved; the client gives up.

    No key is retried in the settle: a retry with the same key inside the provider's 24 h
    window replays the charge and lets even the seed save its row (scenario
    ``server_crash_after_charge``, whose clients retry, so seed holds E3 there); here only
    the reconciler can find the charge, and the seed's looks at RECONCILE rows only."""
    first = request("crash-1")
    a = stepper.submit(first)
    step_until(stepper, a, "ProviderCharge")
    stepper.step(a)  # sent
    stepper.crash(a)  # the charge still executes at the provider
    settle(stepper, [])


def key_reused_with_other_payload(stepper: Stepper) -> None:
    """A key is paid, then sent again with another amount."""
    first, other = request("reuse-1"), request("reuse-1", amount=2999)
    stepper.run_to_end(stepper.submit(first))
    stepper.run_to_end(stepper.submit(other))
    settle(stepper, [first])


@dataclass(frozen=True)
class Situation:
    name: str
    story: Callable[[Stepper], None]
    expect_broken: dict[str, frozenset[str]]
    """Per variant, exactly the properties expected to break (others must hold)."""

    @property
    def description(self) -> str:
        return (self.story.__doc__ or "").strip()


SITUATIONS: tuple[Situation, ...] = (
    Situation("double-submit", double_submit, {"seed": frozenset(), "hardened": frozenset()}),
    Situation(
        "lost-reply-then-retry",
        lost_reply_then_retry,
        {"seed": frozenset({"E3", "E4"}), "hardened": frozenset()},
    ),
    Situation(
        "lost-reply-then-new-key",
        lost_reply_then_new_key,
        {"seed": frozenset({"E2", "E3", "E4"}), "hardened": frozenset()},
    ),
    Situation(
        "crash-after-charge",
        crash_after_charge,
        {"seed": frozenset({"E3"}), "hardened": frozenset()},
    ),
    Situation(
        "key-reused-other-payload",
        key_reused_with_other_payload,
        {"seed": frozenset({"E6"}), "hardened": frozenset()},
    ),
)


def key_forgotten_then_retry(stepper: Stepper) -> None:
    """The reply is lost (a RECONCILE row); the reconciler is down for 7 hours, then the
    client retries with the same key: past PayPal's 6 h key window, inside Stripe's 24 h."""
    first = request("late-1")
    a = stepper.submit(first)
    step_until(stepper, a, "ProviderCharge")
    stepper.step(a)
    stepper.lose_provider_reply(a)
    stepper.run_to_end(a)
    stepper.world.clock.advance(7 * HOUR_MS)
    stepper.run_to_end(stepper.submit(first))
    settle(stepper, [first])


def run_one(situation: Situation, variant: Variant, provider: ProviderContract = STRIPE) -> Verdict:
    world = World(variant, contract=provider)
    stepper = Stepper(world)
    situation.story(stepper)
    return check(world.history, world.final_state(), eventual=True)


def run_situations(variant_names: list[str] | None = None) -> int:
    """Run every situation for each variant, print verdicts; 1 if any expectation failed."""
    variants = [variant_named(n) for n in (variant_names or list(VARIANTS))]
    failures = 0
    header = f"{'situation':26} {'variant':9} " + " ".join(f"{p:>3}" for p in PROPERTIES)
    print(header + "  expected")
    print("-" * (len(header) + 10))
    traces: list[str] = []
    for situation in SITUATIONS:
        for variant in variants:
            verdict = run_one(situation, variant)
            expected = situation.expect_broken.get(variant.name, frozenset())
            met = verdict.broken() == expected
            failures += not met
            cells = " ".join(f"{'ok' if verdict.holds(p) else 'BAD':>3}" for p in PROPERTIES)
            print(f"{situation.name:26} {variant.name:9} {cells}  {'yes' if met else 'NO'}")
            if not verdict.ok:
                traces.append(f"== {situation.name} / {variant.name}\n{verdict.render()}")
    print()
    print("ok = property holds, BAD = violated; 'expected' says whether exactly the expected")
    print("properties broke (seed is expected to break; hardened must hold everywhere).")
    if traces:
        print("\nViolations with their traces:\n")
        print("\n\n".join(traces))
    print(f"\n{'all expectations met' if not failures else f'{failures} expectation(s) NOT met'}")
    return 1 if failures else 0
