"""The live stack's Prometheus instruments, and their exposition for ``GET /metrics``.

Multi-process: the stack gives every server and reconciler one ``PROMETHEUS_MULTIPROC_DIR``
(``live.stack.bring_up`` empties it at start), so ``prometheus_client`` keeps each process's
values in files there and any server's ``/metrics`` shows the whole stack
(``MultiProcessCollector``). Without the variable a process exposes its own values only.

Names and labels are a contract: calibration reads them from a scrape (``metrics.prom`` in a
load run's folder).
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

COMPONENT_OF: dict[str, str] = {
    **dict.fromkeys(
        (
            "CacheGet",
            "CachePut",
            "LockAcquire",
            "CacheGetOrLock",
            "LockRelease",
            "CachePutAndRelease",
        ),
        "redis",
    ),
    **dict.fromkeys(
        (
            "PaymentFind",
            "PaymentGet",
            "PaymentInsert",
            "PaymentTransition",
            "OrderMarkPaid",
            "DbTransaction",
            "PaymentsToReconcile",
            "Authenticate",
        ),
        "postgres",
    ),
    **dict.fromkeys(
        ("ProviderCharge", "ProviderRetrieve", "ProviderChargesForPayment"), "provider"
    ),
}
"""Which backend answers each effect class; the clock's (``ClockRead``, ``Sleep``) are not
round trips and are left out (a ``Sleep`` is a lock wait, counted there). ``Authenticate``
is not an effect: the service's API-key lookup, one Postgres read per payment request."""

LOCK_ATTEMPTS = frozenset({"CacheGetOrLock", "LockAcquire"})
"""Effects that try to take a key's lock: a request with one has a lock wait (maybe zero)."""

_FAST = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_REQUEST = (0.002, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUEST_SECONDS = Histogram(
    "payharness_http_request_duration_seconds",
    "Server time of one HTTP request, from the first byte in to the last out",
    ["route", "status", "outcome"],
    buckets=_REQUEST,
)
EFFECT_SECONDS = Histogram(
    "payharness_effect_duration_seconds",
    "One effect's round trip to its backend, as the live transport awaited it",
    ["component", "effect"],
    buckets=_FAST,
)
LOCK_WAIT_SECONDS = Histogram(
    "payharness_lock_wait_seconds",
    "Time a payment request slept waiting for its key's lock (0 when it was free)",
    buckets=(0.0, *_REQUEST),
)
LOCK_CONFLICTS = Counter(
    "payharness_lock_conflicts_total", "Payment requests answered 409 (key or order in flight)"
)
REPLAYS = Counter(
    "payharness_replays_total", "Payment requests answered with Idempotent-Replayed: true"
)
# Each reconciler counts its own variant's rows, so the live processes' values add up.
RECONCILER_BACKLOG = Gauge(
    "payharness_reconciler_backlog",
    "Payments the reconcilers may have to resolve, by state and age at their last scan",
    ["state", "age"],
    multiprocess_mode="livesum",
)
RECONCILER_ACTIONS = Counter(
    "payharness_reconciler_actions_total",
    "What reconciler runs did: rows completed, failed, left for a later run; runs made",
    ["action"],
)

BACKLOG_STATES = ("PENDING", "PROCESSING", "RECONCILE")
AGE_BUCKETS: tuple[tuple[str, int | None], ...] = (
    ("<1m", 60_000),
    ("1-10m", 600_000),
    (">10m", None),
)
"""Age labels and their upper bound in ms (None: unbounded), youngest first."""


def age_label(age_ms: int) -> str:
    for label, bound in AGE_BUCKETS:
        if bound is None or age_ms < bound:
            return label
    return AGE_BUCKETS[-1][0]


_EFFECT_TIMERS: dict[str, Any] = {}
"""``EFFECT_SECONDS``'s child per effect (``labels()`` costs a lock and a lookup a call)."""


def observe_effect(effect_name: str, seconds: float) -> None:
    timer = _EFFECT_TIMERS.get(effect_name)
    if timer is None:
        component = COMPONENT_OF.get(effect_name)
        if component is None:
            return
        timer = _EFFECT_TIMERS[effect_name] = EFFECT_SECONDS.labels(component, effect_name)
    timer.observe(seconds)


def set_backlog(counts: dict[tuple[str, str], int]) -> None:
    """Every (state, age) cell, zero where ``counts`` has none (a drained cell must fall)."""
    for state in BACKLOG_STATES:
        for label, _ in AGE_BUCKETS:
            RECONCILER_BACKLOG.labels(state, label).set(counts.get((state, label), 0))


def exposition() -> bytes:
    """The text a scrape gets: the whole stack's values in multi-process mode."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def mark_exited() -> None:
    """Drop this process's live gauges from the shared folder (its counters stay summed)."""
    if os.environ.get(MULTIPROC_ENV):
        _multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
