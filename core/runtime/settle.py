"""Heal and settle: how every run ends before the eventual properties (E3, E5) are judged.

E3 and E5 claim what holds once faults are gone and the system had time to recover. 'Heal'
clears every fault the models can hold; 'settle' heals, finishes what is in flight, waits
past the lock TTL and the stale threshold (``settle_wait_ms``), runs the reconciler once,
marks the 'settle' phase the checker reads, and retries every key as its client would.
One definition, so the gate and the situations judge after the same ending.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from core.domain import PaymentRequest
from core.providers import STRIPE, ProviderContract
from core.runtime.stepper import Stepper
from core.runtime.world import World
from core.variants import Variant


def heal(world: World, stepper: Stepper | None = None) -> None:
    """Clear every fault the models hold: Redis, Postgres and the provider answer again and
    no commit is set to fail. Redis's lost data stays lost (a failover does not undo). With a
    ``stepper``, the faults armed at its effect seam (``Stepper.faults``: a provider 5xx, 429,
    409 or lost reply waiting for its next effect) are cleared too."""
    if stepper is not None:
        stepper.faults = None
    world.redis.available = True
    world.postgres.available = True
    world.postgres.failing_commits = 0
    world.stripe.available = True


def settle_wait_ms(variant: Variant, provider: ProviderContract = STRIPE) -> int:
    """How long settling waits after healing: strictly past the lock TTL (a dead server's
    lock no longer turns a retry away), strictly past ``stale_after_ms`` (the reconciler
    takes a PENDING/PROCESSING row only when it is older than that) and, for a design whose
    reconciler decides by lookup only past the request deadline (and the provider's search
    lag), past those too: a key whose error the provider keeps replaying (Stripe saves a 500
    for 24 h) can be resolved no sooner."""
    wait = max(variant.lock_ttl_ms, variant.stale_after_ms)
    if variant.lookup_waits_for_request_deadline:
        lookup = variant.request_deadline_ms
        if variant.lookup_waits_for_provider_lag:
            lookup += provider.lookup_lag_ms
        wait = max(wait, lookup)
    return wait + 1


Step = Callable[[str], object]
"""Advance one flow by one effect (``Stepper.step``, or a caller's wrapper that counts)."""
Submit = Callable[[PaymentRequest], str]
"""Send one request; returns its attempt id."""


def settle(
    stepper: Stepper,
    retries: Iterable[PaymentRequest],
    *,
    step: Step | None = None,
    submit: Submit | None = None,
) -> None:
    """Heal, drain every flow in flight, wait ``settle_wait_ms``, run one reconciliation
    pass, record the 'settle' phase, then send each of ``retries`` and run it to its end.

    ``retries`` is read only after the reconciler ran. ``step`` and ``submit`` default to
    the stepper's own (a retry's client is 'settle')."""
    world = stepper.world
    advance = step or stepper.step
    send = submit or (lambda request: stepper.submit(request, client="settle"))
    heal(world, stepper)
    for attempt in stepper.in_flight():
        _run_to_end(stepper, attempt, advance)
    world.clock.advance(settle_wait_ms(world.variant, world.contract))
    _run_to_end(stepper, stepper.start_reconciler(), advance)
    world.note("phase", "settle")
    for request in retries:
        _run_to_end(stepper, send(request), advance)


MAX_STEPS = 100_000
"""A flow still running after this many effects is stuck; ``Stepper.drain``'s bound."""


def _run_to_end(stepper: Stepper, attempt: str, step: Step) -> None:
    for _ in range(MAX_STEPS):
        if attempt not in stepper.flows:
            return
        step(attempt)
    raise RuntimeError(f"{attempt} did not finish in {MAX_STEPS} steps")
