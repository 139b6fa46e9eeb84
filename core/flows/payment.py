"""The payment flow: ``POST /payments`` as a generator of effects, steered by a variant.

Read top to bottom it is the seed's request-flow diagram: check the cache, take the lock,
check the database, charge, save, cache, release. Each ``if variant.…`` is one documented
departure of ``hardened`` (see ``core.variants``). No I/O happens here.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.domain import (
    FINAL_STATES,
    Outcome,
    Payment,
    PaymentRequest,
    PaymentState,
    Response,
    fingerprint,
    payment_response,
)
from core.effects import (
    CacheGet,
    CacheGetOrLock,
    CachePut,
    CachePutAndRelease,
    ChargeResult,
    ClockRead,
    Conflict,
    DbTransaction,
    Fault,
    Flow,
    IdempotencyMismatch,
    LockAcquire,
    LockRelease,
    OrderMarkPaid,
    OutcomeUnknown,
    PaymentFind,
    PaymentGet,
    PaymentInsert,
    PaymentTransition,
    ProviderCharge,
    Sleep,
    Unavailable,
    Write,
    perform,
)
from core.providers import STRIPE, ProviderContract
from core.scope import scope_digest
from core.variants import PROVIDER_KEY_WINDOW_MS, Variant

RETRY_AFTER_S = 1


@dataclass(frozen=True, slots=True)
class RedisKeys:
    """Where a key's cached response and lock live. Hardened keys share a hash tag, the
    scope's digest (``{s1-<sha256>}``, see ``core.scope``), so both land on one Redis Cluster
    slot and no two (merchant, key) pairs meet whatever characters they contain."""

    cache: str
    lock: str

    @classmethod
    def for_request(cls, variant: Variant, request: PaymentRequest) -> RedisKeys:
        if variant.scope_provider_key:
            tag = f"{{{scope_digest(request.merchant, request.idempotency_key)}}}"
            return cls(cache=f"idem:{tag}:response", lock=f"idem:{tag}:lock")
        return cls(
            cache=f"idempotency:{request.idempotency_key}",
            lock=f"lock:{request.idempotency_key}",
        )


@dataclass(slots=True)
class AnswerCache:
    """Where a request caches its answer. While the flow holds the key's lock and the variant
    joins the two steps (``put_releases_lock``), the answer waits here for the release and
    both go as one ``CachePutAndRelease``: caching is always the last step before the
    release, so nothing runs between them either way."""

    keys: RedisKeys
    with_release: bool
    answer: Response | None = None


def provider_key(variant: Variant, request: PaymentRequest) -> str:
    """The key sent to the provider: scoped by merchant in hardened (the scope's digest, 67
    ASCII characters whatever the merchant and key), the client's in seed."""
    if variant.scope_provider_key:
        return scope_digest(request.merchant, request.idempotency_key)
    return request.idempotency_key


def error(status: int, outcome: Outcome, code: str, message: str) -> Response:
    retry = RETRY_AFTER_S if status in (409, 429, 503) else None
    return Response(status=status, outcome=outcome, code=code, message=message, retry_after_s=retry)


def mismatch() -> Response:
    return error(
        422,
        Outcome.REJECTED,
        "idempotency_key_reused",
        "this Idempotency-Key was first used with another payload",
    )


def in_flight() -> Response:
    return error(
        409, Outcome.IN_FLIGHT, "request_in_flight", "a request with this key is being processed"
    )


def unavailable(exc: Fault) -> Response:
    return error(503, Outcome.ERROR, "backend_unavailable", str(exc))


def charge_effect(variant: Variant, payment: Payment) -> ProviderCharge:
    """The provider request for a payment. Everything in it is stable across retries of the
    same key, so a repeat is a replay and never an ``idempotency_error``."""
    metadata = [
        ("merchant", payment.merchant),
        ("order", payment.order),
        ("idempotency_key", payment.idempotency_key),
        ("fingerprint", payment.fingerprint),
    ]
    if variant.pending_before_charge:
        metadata.append(("payment_id", payment.id))
    return ProviderCharge(
        idempotency_key=payment.provider_key,
        amount=payment.amount,
        currency=payment.currency,
        source=payment.source,
        metadata=tuple(metadata),
    )


class LockHold:
    """Whether this request may hold its key's lock, for the release after an unexpected
    exception: ``FREE`` it does not, ``HELD`` it does, ``ACQUIRING``/``RELEASING`` the
    exception met the step that takes or releases it (which may have been applied)."""

    FREE, HELD, ACQUIRING, RELEASING = "free", "held", "acquiring", "releasing"
    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state = LockHold.FREE


def payment_flow(
    request: PaymentRequest,
    variant: Variant,
    attempt: str,
    provider: ProviderContract = STRIPE,
) -> Flow[Response]:
    """Handle one request. ``attempt`` is unique per request: the lock token and row id.
    ``provider`` is the contract of the provider the effects go to (its key window).

    Whatever unexpected exception is thrown into the flow (a driver error, an injected fault)
    or raised in it (a bug), the lock is released on the way out, nothing is cached, and the
    exception goes on to the driver: a retry with the same key is processed normally. A crash
    (the driver stops driving; ``GeneratorExit`` at ``close()``) releases nothing.
    """
    keys = RedisKeys.for_request(variant, request)
    hold = LockHold()
    try:
        return (yield from _handle(request, variant, attempt, keys, hold, provider))
    except Exception:
        yield from _release_after_error(variant, keys, attempt, hold)
        raise


def _release_after_error(
    variant: Variant, keys: RedisKeys, token: str, hold: LockHold
) -> Flow[None]:
    """The one release path for unexpected exceptions: a plain release, never a cache write.
    A lock that may be someone else's (the taking step failed) is released only by token:
    the seed, whose release checks none, leaves it to its TTL."""
    checked = token if variant.lock_release_checks_token else None
    if hold.state == LockHold.FREE or (hold.state == LockHold.ACQUIRING and checked is None):
        return
    hold.state = LockHold.FREE
    try:
        yield from perform(LockRelease(keys.lock, checked))
    except Exception:  # the first exception is the one to report; the TTL ends the lock
        pass


def _handle(
    request: PaymentRequest,
    variant: Variant,
    attempt: str,
    keys: RedisKeys,
    hold: LockHold,
    provider: ProviderContract,
) -> Flow[Response]:
    fp = fingerprint(request, include_amount=variant.fingerprint_includes_amount)
    try:
        held, early = yield from _acquire(variant, keys, attempt, fp, hold)
    except Unavailable as exc:
        return unavailable(exc)
    if early is not None:
        return early

    cache = AnswerCache(keys, with_release=held and variant.put_releases_lock)
    try:
        response = yield from _under_lock(request, variant, attempt, fp, cache, provider)
    except (Unavailable, OutcomeUnknown) as exc:
        response = unavailable(exc)
    except Conflict:
        # a compare-and-set lost to another writer of this payment: nothing final to say yet
        response = in_flight()
    if held:
        try:
            yield from _release(variant, cache, attempt, hold)
        except Unavailable as exc:  # the answer was not cached (as a failed CachePut says)
            response = unavailable(exc)
    return response


def _replay(variant: Variant, cached: Response, fp: str) -> Response:
    """The key's cached answer, or 422 when it was cached for another payload."""
    if variant.check_fingerprint and cached.fingerprint not in (None, fp):
        return mismatch()
    return cached.as_replay()


def _cache_get(variant: Variant, keys: RedisKeys) -> Flow[Response | None]:
    try:
        return (yield from perform(CacheGet(keys.cache)))
    except Unavailable:
        if variant.proceed_without_redis:
            return None
        raise


def _cache_put(variant: Variant, cache: AnswerCache, response: Response) -> Flow[None]:
    if cache.with_release:
        cache.answer = response  # sent with the release (``_release``)
        return
    try:
        yield from perform(CachePut(cache.keys.cache, response, variant.cache_ttl_ms))
    except Unavailable:
        if not variant.proceed_without_redis:
            raise


def _acquire(
    variant: Variant, keys: RedisKeys, token: str, fp: str, hold: LockHold
) -> Flow[tuple[bool, Response | None]]:
    """Answer from the cache or take the lock, waiting ``lock_wait_ms`` between tries.

    Returns (held, early answer). Hardened carries on without a lock when Redis is down.
    """
    attempts = 0
    while True:
        hold.state = LockHold.ACQUIRING
        try:
            got = yield from _cached_or_locked(variant, keys, token)
        except Unavailable:
            hold.state = LockHold.FREE
            if variant.proceed_without_redis:
                return False, None
            raise
        hold.state = LockHold.HELD if got is True else LockHold.FREE
        if isinstance(got, Response):
            return False, _replay(variant, got, fp)
        if got:
            return True, None
        attempts += 1
        if variant.lock_wait_attempts is not None and attempts > variant.lock_wait_attempts:
            return False, in_flight()
        yield from perform(Sleep(variant.lock_wait_ms))


def _cached_or_locked(variant: Variant, keys: RedisKeys, token: str) -> Flow[Response | bool]:
    """The key's cached answer, else whether the lock is now ours: one step
    (``CacheGetOrLock``) or, as the seed draws it, a cache check and then ``SET NX``."""
    if variant.cache_check_takes_lock:
        return (
            yield from perform(CacheGetOrLock(keys.cache, keys.lock, token, variant.lock_ttl_ms))
        )
    cached = yield from _cache_get(variant, keys)
    if cached is not None:
        return cached
    return (yield from perform(LockAcquire(keys.lock, token, variant.lock_ttl_ms)))


def _release(variant: Variant, cache: AnswerCache, token: str, hold: LockHold) -> Flow[None]:
    """Release the lock, caching the answer in the same step when it waits for it. Raises
    ``Unavailable`` only when that answer could not be cached and the variant needs Redis."""
    keys, checked = cache.keys, token if variant.lock_release_checks_token else None
    if cache.answer is None:
        release: LockRelease | CachePutAndRelease = LockRelease(keys.lock, checked)
    else:
        release = CachePutAndRelease(
            keys.cache, cache.answer, variant.cache_ttl_ms, keys.lock, checked
        )
    hold.state = LockHold.RELEASING
    try:
        yield from perform(release)
    except Unavailable:
        # the lock expires on its own; the answer is already decided
        hold.state = LockHold.FREE
        if cache.answer is not None and not variant.proceed_without_redis:
            raise
    hold.state = LockHold.FREE


def _under_lock(
    request: PaymentRequest,
    variant: Variant,
    attempt: str,
    fp: str,
    cache: AnswerCache,
    provider: ProviderContract = STRIPE,
) -> Flow[Response]:
    merchant = request.merchant if variant.db_lookup_scoped else None
    if not variant.pending_before_charge:
        existing = yield from perform(PaymentFind(merchant, request.idempotency_key))
        if existing is not None:
            return (yield from _answer_existing(variant, existing, fp, cache, provider))
        payment = yield from _new_payment(request, variant, attempt, fp)
        return (yield from _charge_then_save(variant, payment, cache))

    # The PENDING insert is the lookup: its unique indexes say whether the key (or the order)
    # already has a row, so a new key costs one round trip instead of a find and an insert.
    payment = yield from _new_payment(request, variant, attempt, fp)
    try:
        yield from perform(PaymentInsert(payment))
    except Conflict as exc:
        # Answer from the key's own row whichever index refused: a database may report the
        # order's index although the key has a row too (e.g. a FAILED row under this key and
        # the order paid under another one).
        existing = yield from perform(PaymentFind(merchant, request.idempotency_key))
        if existing is not None:
            return (yield from _answer_existing(variant, existing, fp, cache, provider))
        if "live_order" in exc.reason:
            return error(
                409,
                Outcome.CONFLICT,
                "order_already_has_payment",
                f"order {request.order} already has a live or completed payment",
            )
        return in_flight()
    return (yield from charge_and_settle(variant, payment, cache))


def _new_payment(request: PaymentRequest, variant: Variant, attempt: str, fp: str) -> Flow[Payment]:
    now = yield from perform(ClockRead())
    return Payment(
        id=f"pay_{attempt}",
        merchant=request.merchant,
        order=request.order,
        idempotency_key=request.idempotency_key,
        amount=request.amount,
        currency=request.currency,
        source=request.source,
        fingerprint=fp,
        provider_key=provider_key(variant, request),
        state=PaymentState.PENDING,
        created_ms=now,
    )


def _answer_existing(
    variant: Variant,
    existing: Payment,
    fp: str,
    cache: AnswerCache,
    provider: ProviderContract = STRIPE,
) -> Flow[Response]:
    """A row for this key exists: replay it when final, resume it when hardened can."""
    if variant.check_fingerprint and existing.fingerprint != fp:
        return mismatch()
    if existing.state in FINAL_STATES:
        response = payment_response(existing, 201, replayed=True)
        if variant.pending_before_charge:
            yield from _cache_put(variant, cache, response)
        return response
    if not variant.pending_before_charge:
        return payment_response(existing, 200, replayed=True)
    now = yield from perform(ClockRead())
    if not within_key_window(variant, existing, now, provider):
        return payment_response(existing, 202, replayed=True)
    return (yield from charge_and_settle(variant, existing, cache))


def within_key_window(
    variant: Variant, payment: Payment, now: int, provider: ProviderContract = STRIPE
) -> bool:
    """Whether asking the provider again with the payment's key is still a replay: inside
    the provider's window (its contract's, or Stripe's 24 h) less the variant's margin."""
    if not variant.reconcile_respects_key_window:
        return True
    window = provider.key_window_ms if variant.key_window_from_provider else PROVIDER_KEY_WINDOW_MS
    return now - payment.created_ms < window - variant.reconcile_margin_ms


def charge_and_settle(
    variant: Variant, payment: Payment, cache: AnswerCache | None
) -> Flow[Response]:
    """Charge with the payment's own key and move its row by the answer (hardened path)."""
    try:
        result = yield from perform(charge_effect(variant, payment))
    except OutcomeUnknown as exc:
        if not variant.unknown_is_pending:
            return (yield from _cached_failure(variant, cache, 502, "provider_error", str(exc)))
        yield from _mark_reconcile(variant, payment, None)
        return payment_response(payment, 202)
    except Conflict:
        return in_flight()
    except Unavailable as exc:
        return unavailable(exc)
    except IdempotencyMismatch as exc:
        yield from perform(_transition(variant, payment, PaymentState.FAILED, error=str(exc)))
        return error(500, Outcome.FAILED, "provider_idempotency_error", str(exc))
    return (yield from settle(variant, payment, result, cache))


def settle(
    variant: Variant, payment: Payment, result: ChargeResult, cache: AnswerCache | None
) -> Flow[Response]:
    """Record what the provider said: COMPLETED and order paid in one transaction, or FAILED.

    A compare-and-set refusal means someone else settled it first: answer from their row.
    A failed commit after a successful charge leaves RECONCILE and answers 202.
    """
    if result.succeeded:
        writes = completion_writes(variant, payment, result.charge_id)
        status = 201
    else:
        declined = _transition(
            variant,
            payment,
            PaymentState.FAILED,
            charge_id=result.charge_id,
            error=result.decline_code,
        )
        writes = (declined,)
        status = 402
    try:
        yield from perform(DbTransaction(writes))
    except Conflict:
        current = yield from perform(PaymentGet(payment.id))
        if current is None:
            return in_flight()
        return payment_response(current, 201)
    except (Unavailable, OutcomeUnknown):
        if result.succeeded:
            yield from _mark_reconcile(variant, payment, result.charge_id)
        return payment_response(payment, 202)
    final_state = PaymentState.COMPLETED if result.succeeded else PaymentState.FAILED
    row = payment.evolve(
        final_state,
        result.charge_id or payment.charge_id,
        None if result.succeeded else result.decline_code,
    )
    response = payment_response(row, status)
    if cache is not None:
        yield from _cache_put(variant, cache, response)
    return response


def completion_writes(
    variant: Variant, payment: Payment, charge_id: str | None
) -> tuple[Write, ...]:
    """The legal path from the row's state to COMPLETED, plus the order, in one transaction."""
    path: list[Write] = []
    state = payment.state
    if state is PaymentState.PENDING:
        path.append(_transition(variant, payment, PaymentState.PROCESSING, charge_id=charge_id))
        state = PaymentState.PROCESSING
    path.append(
        PaymentTransition(
            payment.id,
            state if variant.cas_transitions else None,
            PaymentState.COMPLETED,
            charge_id=charge_id,
        )
    )
    path.append(OrderMarkPaid(payment.merchant, payment.order, payment.id))
    return tuple(path)


def _transition(
    variant: Variant,
    payment: Payment,
    target: PaymentState,
    *,
    charge_id: str | None = None,
    error: str | None = None,
) -> PaymentTransition:
    expected = payment.state if variant.cas_transitions else None
    return PaymentTransition(payment.id, expected, target, charge_id=charge_id, error=error)


def _mark_reconcile(variant: Variant, payment: Payment, charge_id: str | None) -> Flow[None]:
    """Best effort: flag the row for the reconciler. If even that fails, the row stays
    PENDING and the reconciler's stale scan finds it."""
    if payment.state is PaymentState.RECONCILE:
        return
    try:
        yield from perform(
            _transition(variant, payment, PaymentState.RECONCILE, charge_id=charge_id)
        )
    except Fault:
        pass


def _cached_failure(
    variant: Variant, cache: AnswerCache | None, status: int, code: str, message: str
) -> Flow[Response]:
    """The seed's 'Failed? → Cache error, return': the error becomes the key's answer."""
    response = error(status, Outcome.FAILED, code, message)
    if variant.cache_failures and cache is not None:
        yield from _cache_put(variant, cache, response)
    return response


def _charge_then_save(variant: Variant, payment: Payment, cache: AnswerCache) -> Flow[Response]:
    """The seed's order: charge first, then save payment and order in one transaction."""
    try:
        result = yield from perform(charge_effect(variant, payment))
    except (OutcomeUnknown, Unavailable, Conflict, IdempotencyMismatch) as exc:
        return (yield from _cached_failure(variant, cache, 502, "provider_error", str(exc)))
    if not result.succeeded:
        code = result.decline_code or "card_declined"
        return (yield from _cached_failure(variant, cache, 402, code, "the card was declined"))
    saved = payment.evolve(PaymentState.COMPLETED, result.charge_id, payment.error)
    try:
        yield from perform(
            DbTransaction(
                (PaymentInsert(saved), OrderMarkPaid(saved.merchant, saved.order, saved.id))
            )
        )
    except Fault:
        reconcile = saved.evolve(PaymentState.RECONCILE, saved.charge_id, saved.error)
        try:
            yield from perform(PaymentInsert(reconcile))
        except Fault:
            pass
        return error(500, Outcome.ERROR, "save_failed", "charged, but the save failed")
    response = payment_response(saved, 201)
    yield from _cache_put(variant, cache, response)
    return response
