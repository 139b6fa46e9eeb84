"""The in-memory world: one clock, the three models, a history, and the answer to each effect.

``World.perform`` is the memory transport (in the httpx sense): every runtime that works off
real servers (sync, stepper, simulator) answers effects through it, adding only timing and
faults of its own. It answers through ``core.runtime.effect_table``, the table the live
transport uses too, over the in-memory backends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.domain import Payment
from core.effects import Effect
from core.history import (
    AppliedTransition,
    Event,
    FinalState,
    History,
    Kind,
    ListedCharge,
)
from core.models.clock import ModelClock
from core.models.paypal_model import PayPalModel
from core.models.postgres_model import KeyScope, PostgresModel
from core.models.redis_model import RedisModel
from core.models.stripe_model import Charge, StripeModel
from core.providers import STRIPE, ProviderContract
from core.runtime.backends import Backends
from core.runtime.effect_table import HANDLERS
from core.runtime.memory_backends import MemoryCache, MemoryClock, MemoryPayments, MemoryProvider
from core.variants import Variant

ProviderModel = StripeModel | PayPalModel
"""A provider's model: the same two-halves interface, each provider's own promises."""


def provider_model(contract: ProviderContract, clock: ModelClock) -> ProviderModel:
    """The model that keeps ``contract``'s promises, on ``clock``."""
    if contract.name == "stripe":
        return StripeModel(clock, key_window_ms=contract.key_window_ms)
    return PayPalModel(
        clock,
        simultaneous="wait" if contract.in_flight == "wait" else "fail",
        key_window_ms=contract.key_window_ms,
        search_lag_ms=contract.lookup_lag_ms,
    )


def schema_for(variant: Variant) -> tuple[KeyScope, bool]:
    """The unique indexes a variant's schema has: the key's scope and one live payment/order."""
    scope: KeyScope = "merchant" if variant.db_lookup_scoped else "global"
    return scope, variant.one_live_payment_per_order


@dataclass(slots=True)
class World:
    """Everything a memory run touches, built for one variant's schema.

    ``redis``, ``postgres`` and ``stripe`` are the models; ``backends`` are the in-memory
    backends over them, rebuilt whenever a model is replaced, so they never answer from an
    old one."""

    variant: Variant
    clock: ModelClock = field(default_factory=ModelClock)
    history: History = field(default_factory=History)
    record_effects: bool = True
    contract: ProviderContract = STRIPE
    """Which provider's promises this world keeps (``core.providers``); the model under
    ``stripe`` (the historical name) is that provider's."""
    _redis: RedisModel = field(init=False, repr=False)
    _postgres: PostgresModel = field(init=False, repr=False)
    _stripe: ProviderModel = field(init=False, repr=False)
    backends: Backends = field(init=False, repr=False)
    provider: MemoryProvider = field(init=False, repr=False)
    """The provider backend with its two halves (``send``, ``hear``) for stepping runtimes."""

    def __post_init__(self) -> None:
        self._empty_models()

    def _empty_models(self) -> None:
        scope, one_live = schema_for(self.variant)
        self._redis = RedisModel(self.clock)
        self._postgres = PostgresModel(self.clock, key_scope=scope, one_live_per_order=one_live)
        self._stripe = provider_model(self.contract, self.clock)
        self._stripe.on_charge.append(self._charged)
        self._connect()

    def _connect(self) -> None:
        self.provider = MemoryProvider(self._stripe)
        self.backends = Backends(
            MemoryClock(self.clock),
            MemoryCache(self._redis),
            MemoryPayments(self._postgres),
            self.provider,
        )

    @property
    def redis(self) -> RedisModel:
        return self._redis

    @redis.setter
    def redis(self, model: RedisModel) -> None:
        self._redis = model
        self._connect()

    @property
    def postgres(self) -> PostgresModel:
        return self._postgres

    @postgres.setter
    def postgres(self, model: PostgresModel) -> None:
        self._postgres = model
        self._connect()

    @property
    def stripe(self) -> ProviderModel:
        return self._stripe

    @stripe.setter
    def stripe(self, model: ProviderModel) -> None:
        self._stripe = model
        self._connect()

    # --- answering effects ----------------------------------------------------------------

    def perform(self, effect: Effect[Any]) -> Any:
        """Answer one effect from the models through the shared table; a fault raised by a
        model propagates."""
        return HANDLERS[type(effect)](self.backends, effect)

    # --- history --------------------------------------------------------------------------

    def _charged(self, charge: Charge) -> None:
        history = self.history
        if not history.heard:  # a bench's world: nobody keeps or hears it
            return
        md = charge.metadata
        get = md.get
        history.record_row(
            (self.clock.now, "charge", "", "", get("merchant", ""), get("idempotency_key", ""),
             get("order", ""), charge.amount, charge.currency, charge.source, "", -1,
             charge.status, "", get("payment_id", ""), "", "", charge.id, False,
             charge.idempotency_key or "")
        )  # fmt: skip

    def note(self, kind: Kind, detail: str, attempt: str = "") -> None:
        self.history.record(Event(t=self.clock.now, kind=kind, attempt=attempt, detail=detail))

    def final_state(self) -> FinalState:
        return final_state_of(self.postgres, self.stripe)

    def take_final_state(self) -> FinalState:
        """The final state, made by emptying the models rather than copying them: the world
        is left with empty models. A long run ends with this, so the checker's tables reuse
        the memory the simulated system held instead of adding to it."""
        postgres, charges = self._postgres, self._stripe.charges
        payments = tuple(postgres.payments.values())
        orders = postgres.orders
        transitions = _applied(postgres)
        del postgres
        self._empty_models()  # the old models' other tables (indexes, keys, cache) go here
        listed: list[ListedCharge] = []
        for charge_id in list(charges):  # each charge freed as its listing is made
            listed.append(listed_charge(charges.pop(charge_id)))
        return FinalState(payments, orders, tuple(listed), transitions)


def listed_charge(charge: Charge) -> ListedCharge:
    md = charge.metadata
    return ListedCharge(
        id=charge.id,
        amount=charge.amount,
        currency=charge.currency,
        succeeded=charge.status == "succeeded",
        merchant=md.get("merchant", ""),
        key=md.get("idempotency_key", ""),
        order=md.get("order", ""),
        provider_key=charge.idempotency_key or "",
        source=charge.source,
        created_ms=charge.created_ms,
    )


def final_state_of(postgres: PostgresModel, stripe: ProviderModel) -> FinalState:
    payments: tuple[Payment, ...] = tuple(postgres.payments.values())
    return FinalState(
        payments=payments,
        orders=dict(postgres.orders),
        charges=tuple(listed_charge(c) for c in stripe.charges.values()),
        transitions=_applied(postgres),
    )


def _applied(postgres: PostgresModel) -> tuple[AppliedTransition, ...]:
    return tuple(
        AppliedTransition(t.payment_id, t.source, t.target, t.legal, t.at_ms)
        for t in postgres.transitions
    )
