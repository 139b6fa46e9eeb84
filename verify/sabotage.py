"""Sabotage: a world where charges are forged behind the gateway's back, to show what the
gate prints for a broken history (a readable, minimal, replayable program). Not a world
action, so it lives apart from ``PaymentWorld``'s rules."""

from __future__ import annotations

from hypothesis.stateful import rule

from core.providers import STRIPE, ProviderContract
from core.variants import Variant
from verify.machine import GateStats, MerchantKey, PaymentWorld, machine_for
from verify.story import note


class ForgingWorld(PaymentWorld):
    """``PaymentWorld`` plus one rule that charges a key twice without the gateway."""

    @rule(key=PaymentWorld.keys)
    def forge_charges(self, key: MerchantKey) -> None:
        """Not a world action: charge the key twice behind the gateway's back."""
        request = self.requests[key]
        metadata = {"merchant": key[0], "order": request.order, "idempotency_key": key[1]}
        stripe = self.world.stripe
        up, stripe.available = stripe.available, True  # forged whether it is down or not
        amount = max(request.amount, 100)  # above every minimum charge: the forgery succeeds
        for n in (1, 2):
            stripe.charge(f"forged-{n}", amount, request.currency, "tok_visa", metadata)
        stripe.available = up
        note(f"sabotage: {key[0]}/{key[1]} charged twice behind the gateway's back")


def sabotaged_machine_for(
    variant: Variant, *, stats: GateStats | None = None, provider: ProviderContract = STRIPE
) -> type[PaymentWorld]:
    """The machine for ``variant`` with the forging rule added."""
    return machine_for(variant, stats=stats, base=ForgingWorld, provider=provider)
