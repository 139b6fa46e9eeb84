"""The in-memory world: one clock, the three models, a history, and the answer to each effect.

``World.perform`` is the memory transport (in the httpx sense): every runtime that works off
real servers (sync, stepper, simulator) answers effects through it, adding only timing and
faults of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.domain import Payment
from core.effects import (
    CacheGet,
    CacheGetOrLock,
    CachePut,
    CachePutAndRelease,
    ChargeResult,
    ClockRead,
    DbTransaction,
    Effect,
    LockAcquire,
    LockRelease,
    OrderMarkPaid,
    PaymentFind,
    PaymentGet,
    PaymentInsert,
    PaymentsToReconcile,
    PaymentTransition,
    ProviderCharge,
    ProviderLookup,
    Sleep,
)
from core.history import (
    AppliedTransition,
    Event,
    FinalState,
    History,
    Kind,
)
from core.history import (
    ProviderCharge as ListedCharge,
)
from core.models.clock import ModelClock
from core.models.postgres_model import KeyScope, PostgresModel
from core.models.redis_model import RedisModel
from core.models.stripe_model import Charge, StripeModel, charge_result
from core.variants import Variant


def schema_for(variant: Variant) -> tuple[KeyScope, bool]:
    """The unique indexes a variant's schema has: the key's scope and one live payment/order."""
    scope: KeyScope = "merchant" if variant.db_lookup_scoped else "global"
    return scope, variant.one_live_payment_per_order


@dataclass(slots=True)
class World:
    """Everything a memory run touches, built for one variant's schema."""

    variant: Variant
    clock: ModelClock = field(default_factory=ModelClock)
    history: History = field(default_factory=History)
    record_effects: bool = True
    redis: RedisModel = field(init=False)
    postgres: PostgresModel = field(init=False)
    stripe: StripeModel = field(init=False)
    _handlers: dict[type[Any], Callable[[Any], Any]] = field(init=False)

    def __post_init__(self) -> None:
        self._empty_models()
        self._handlers = {
            ClockRead: lambda e: self.clock.now,
            Sleep: self._sleep,
            CacheGet: lambda e: self.redis.get(e.key),
            CachePut: lambda e: self.redis.set(e.key, e.response, px=e.ttl_ms) and None,
            LockAcquire: lambda e: self.redis.set(e.key, e.token, px=e.ttl_ms, nx=True),
            CacheGetOrLock: self._get_or_lock,
            LockRelease: self._release,
            CachePutAndRelease: self._put_and_release,
            PaymentFind: lambda e: self.postgres.find(e.merchant, e.idempotency_key),
            PaymentGet: lambda e: self.postgres.get(e.payment_id),
            PaymentInsert: lambda e: self.postgres.execute([e]) and None,
            PaymentTransition: lambda e: self.postgres.execute([e])[0],
            OrderMarkPaid: lambda e: self.postgres.execute([e]) and None,
            DbTransaction: lambda e: self.postgres.execute(e.writes) and None,
            PaymentsToReconcile: lambda e: self.postgres.to_reconcile(e.stale_before_ms, e.limit),
            ProviderCharge: self._charge,
            ProviderLookup: self._lookup,
        }

    def _empty_models(self) -> None:
        scope, one_live = schema_for(self.variant)
        self.redis = RedisModel(self.clock)
        self.postgres = PostgresModel(self.clock, key_scope=scope, one_live_per_order=one_live)
        self.stripe = StripeModel(self.clock)
        self.stripe.on_charge.append(self._charged)

    # --- answering effects ----------------------------------------------------------------

    def perform(self, effect: Effect[Any]) -> Any:
        """Answer one effect from the models; a fault raised by a model propagates."""
        return self._handlers[type(effect)](effect)

    def _sleep(self, effect: Sleep) -> None:
        self.clock.advance(effect.ms)

    def _get_or_lock(self, effect: CacheGetOrLock) -> Any:
        cached = self.redis.get(effect.cache_key)
        if cached is not None:
            return cached
        return self.redis.set(effect.lock_key, effect.token, px=effect.ttl_ms, nx=True)

    def _release(self, effect: LockRelease) -> bool:
        return self._unlock(effect.key, effect.token)

    def _put_and_release(self, effect: CachePutAndRelease) -> bool:
        self.redis.set(effect.cache_key, effect.response, px=effect.ttl_ms)
        return self._unlock(effect.lock_key, effect.token)

    def _unlock(self, key: str, token: str | None) -> bool:
        """Compare-and-delete by ``token``; a plain delete when it is None."""
        if token is None:
            return self.redis.delete(key)
        return self.redis.compare_and_delete(key, token)

    def _charge(self, effect: ProviderCharge) -> ChargeResult:
        return self.stripe.charge(
            effect.idempotency_key,
            effect.amount,
            effect.currency,
            effect.source,
            effect.metadata_dict(),
        )

    def _lookup(self, effect: ProviderLookup) -> ChargeResult | None:
        if effect.charge_id is not None:
            found = self.stripe.retrieve(effect.charge_id)
            if found is not None:
                return charge_result(found)
        if effect.payment_id is not None:
            matches = self.stripe.find_by_metadata("payment_id", effect.payment_id)
            succeeded = [c for c in matches if c.status == "succeeded"]
            if succeeded or matches:
                return charge_result((succeeded or matches)[0])
        return None

    # --- history --------------------------------------------------------------------------

    def _charged(self, charge: Charge) -> None:
        md = charge.metadata
        self.history.record(
            Event(
                t=self.clock.now,
                kind="charge",
                merchant=md.get("merchant", ""),
                key=md.get("idempotency_key", ""),
                order=md.get("order", ""),
                amount=charge.amount,
                currency=charge.currency,
                source=charge.source,
                outcome=charge.status,
                charge_id=charge.id,
                payment_id=md.get("payment_id", ""),
                detail=charge.idempotency_key or "",
            )
        )

    def note(self, kind: Kind, detail: str, attempt: str = "") -> None:
        self.history.record(Event(t=self.clock.now, kind=kind, attempt=attempt, detail=detail))

    def final_state(self) -> FinalState:
        return final_state_of(self.postgres, self.stripe)

    def take_final_state(self) -> FinalState:
        """The final state, made by emptying the models rather than copying them: the world
        is left with empty models. A long run ends with this, so the checker's tables reuse
        the memory the simulated system held instead of adding to it."""
        postgres, charges = self.postgres, self.stripe.charges
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


def final_state_of(postgres: PostgresModel, stripe: StripeModel) -> FinalState:
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
