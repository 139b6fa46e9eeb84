"""The one table from effect to backend operation, for every runtime.

Each handler calls one operation of ``Backends`` with the effect's fields and returns what it
returned, untouched: a value for the memory world, an awaitable the live transport awaits.
So a handler never post-processes a result (that would not work on an awaitable); when an
effect's answer differs from a store's natural one, the store offers the operation the effect
needs (``PaymentStore.transition``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

from core.domain import Payment, Response
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
    ProviderChargesForPayment,
    ProviderRetrieve,
    Sleep,
)
from core.runtime.backends import Answer, Backends

Handler: TypeAlias = Callable[[Backends, Any], Answer[Any]]


def _clock_read(b: Backends, e: ClockRead) -> Answer[int]:
    return b.clock.now_ms()


def _sleep(b: Backends, e: Sleep) -> Answer[None]:
    return b.clock.sleep(e.ms)


def _cache_get(b: Backends, e: CacheGet) -> Answer[Response | None]:
    return b.cache.cache_get(e.key)


def _cache_put(b: Backends, e: CachePut) -> Answer[None]:
    return b.cache.cache_put(e.key, e.response, e.ttl_ms)


def _lock_acquire(b: Backends, e: LockAcquire) -> Answer[bool]:
    return b.cache.lock_acquire(e.key, e.token, e.ttl_ms)


def _cache_get_or_lock(b: Backends, e: CacheGetOrLock) -> Answer[Response | bool]:
    return b.cache.cache_get_or_lock(e.cache_key, e.lock_key, e.token, e.ttl_ms)


def _lock_release(b: Backends, e: LockRelease) -> Answer[bool]:
    return b.cache.lock_release(e.key, e.token)


def _cache_put_and_release(b: Backends, e: CachePutAndRelease) -> Answer[bool]:
    return b.cache.cache_put_and_release(e.cache_key, e.response, e.ttl_ms, e.lock_key, e.token)


def _payment_find(b: Backends, e: PaymentFind) -> Answer[Payment | None]:
    return b.payments.find(e.merchant, e.idempotency_key)


def _payment_get(b: Backends, e: PaymentGet) -> Answer[Payment | None]:
    return b.payments.get(e.payment_id)


def _one_write(b: Backends, e: PaymentInsert | OrderMarkPaid) -> Answer[None]:
    return b.payments.commit((e,))


def _payment_transition(b: Backends, e: PaymentTransition) -> Answer[Payment]:
    return b.payments.transition(e)


def _db_transaction(b: Backends, e: DbTransaction) -> Answer[None]:
    return b.payments.commit(e.writes)


def _payments_to_reconcile(b: Backends, e: PaymentsToReconcile) -> Answer[tuple[Payment, ...]]:
    return b.payments.to_reconcile(e.stale_before_ms, e.limit)


def _provider_charge(b: Backends, e: ProviderCharge) -> Answer[ChargeResult]:
    return b.provider.charge(e)


def _provider_retrieve(b: Backends, e: ProviderRetrieve) -> Answer[ChargeResult | None]:
    return b.provider.retrieve(e.charge_id)


def _provider_charges_for_payment(
    b: Backends, e: ProviderChargesForPayment
) -> Answer[tuple[ChargeResult, ...]]:
    return b.provider.charges_for_payment(e.payment_id)


HANDLERS: Mapping[type[Effect[Any]], Handler] = {
    ClockRead: _clock_read,
    Sleep: _sleep,
    CacheGet: _cache_get,
    CachePut: _cache_put,
    LockAcquire: _lock_acquire,
    CacheGetOrLock: _cache_get_or_lock,
    LockRelease: _lock_release,
    CachePutAndRelease: _cache_put_and_release,
    PaymentFind: _payment_find,
    PaymentGet: _payment_get,
    PaymentInsert: _one_write,
    PaymentTransition: _payment_transition,
    OrderMarkPaid: _one_write,
    DbTransaction: _db_transaction,
    PaymentsToReconcile: _payments_to_reconcile,
    ProviderCharge: _provider_charge,
    ProviderRetrieve: _provider_retrieve,
    ProviderChargesForPayment: _provider_charges_for_payment,
}
"""Every effect type in ``core.effects`` and the operation that answers it."""
