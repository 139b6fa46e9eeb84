"""BUGGIFY-style fault points: named places in the live runtime where a server can be made to
crash or pause, switched on only through the environment by the test and load harness.

``PAYHARNESS_FAULTS`` is a comma-separated list of ``point=action[@probability]``:

- points: ``before_charge``, ``after_charge`` (the provider answered, nothing saved yet),
  ``before_commit``, ``after_commit``, ``before_insert``, ``after_insert``,
  ``before_cache_put``, ``after_lock``, ``before_release``;
- actions: ``crash`` (SIGKILL this process: no cleanup, no lock release, no response),
  ``pause:MS`` (sleep MS milliseconds, e.g. to let a lock expire), ``exit`` (``os._exit(70)``),
  ``raise`` (an unexpected ``InjectedError``, the first time the request reaches the point:
  what a bug or a driver error does; the flow's error path must release the lock).

``PAYHARNESS_FAULT_KEYS`` (optional) limits the faults to requests whose Idempotency-Key
starts with that prefix, so a test can crash one request and leave others alone.
When ``PAYHARNESS_FAULTS`` is unset the fault point is ``None`` and nothing is checked at all.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.effects import (
    CacheGetOrLock,
    CachePut,
    CachePutAndRelease,
    DbTransaction,
    Effect,
    LockAcquire,
    LockRelease,
    PaymentInsert,
    ProviderCharge,
)

POINTS: Mapping[tuple[type[Any], str], str] = {
    (ProviderCharge, "before"): "before_charge",
    (ProviderCharge, "after"): "after_charge",
    (DbTransaction, "before"): "before_commit",
    (DbTransaction, "after"): "after_commit",
    (PaymentInsert, "before"): "before_insert",
    (PaymentInsert, "after"): "after_insert",
    (CachePut, "before"): "before_cache_put",
    (CachePutAndRelease, "before"): "before_cache_put",
    (LockAcquire, "after"): "after_lock",
    (CacheGetOrLock, "after"): "after_lock",
    (LockRelease, "before"): "before_release",
}
KNOWN_POINTS = frozenset(POINTS.values())


class FaultSpecError(ValueError):
    pass


class InjectedError(RuntimeError):
    """The ``raise`` action's exception: deliberately not a ``core.effects.Fault``."""


@dataclass(frozen=True, slots=True)
class Action:
    kind: str  # crash | pause | exit | raise
    pause_ms: int = 0
    probability: float = 1.0


def parse(spec: str) -> dict[str, Action]:
    """``after_charge=crash,before_commit=pause:2000@0.5`` → {point: Action}."""
    out: dict[str, Action] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        if "=" not in part:
            raise FaultSpecError(f"fault {part!r}: expected point=action")
        point, action = (s.strip() for s in part.split("=", 1))
        if point not in KNOWN_POINTS:
            raise FaultSpecError(f"unknown fault point {point!r}; known: {sorted(KNOWN_POINTS)}")
        probability = 1.0
        if "@" in action:
            action, p = action.split("@", 1)
            probability = float(p)
            if not 0.0 <= probability <= 1.0:
                raise FaultSpecError(f"fault {part!r}: probability must be in [0, 1]")
        if action == "crash":
            out[point] = Action("crash", probability=probability)
        elif action == "exit":
            out[point] = Action("exit", probability=probability)
        elif action == "raise":
            out[point] = Action("raise", probability=probability)
        elif action.startswith("pause:"):
            ms = int(action.split(":", 1)[1])
            if not 0 <= ms <= 600_000:
                raise FaultSpecError(f"fault {part!r}: pause must be 0..600000 ms")
            out[point] = Action("pause", pause_ms=ms, probability=probability)
        else:
            raise FaultSpecError(f"fault {part!r}: action must be crash, exit, raise or pause:MS")
    return out


class FaultPoints:
    """The armed fault points of this process; call ``for_request`` per request."""

    def __init__(self, actions: Mapping[str, Action], key_prefix: str | None = None) -> None:
        self.actions = dict(actions)
        self.key_prefix = key_prefix
        self.rng = random.Random()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FaultPoints | None:
        e = os.environ if env is None else env
        spec = e.get("PAYHARNESS_FAULTS", "").strip()
        if not spec:
            return None
        return cls(parse(spec), e.get("PAYHARNESS_FAULT_KEYS") or None)

    def applies_to(self, idempotency_key: str) -> bool:
        return self.key_prefix is None or idempotency_key.startswith(self.key_prefix)

    def for_request(self, idempotency_key: str) -> _RequestFaults | None:
        if not self.applies_to(idempotency_key):
            return None
        return _RequestFaults(self)

    async def fire(self, point: str, fired: set[str] | None = None) -> None:
        """Act at ``point``; ``fired`` (per request) makes ``raise`` happen once there."""
        action = self.actions.get(point)
        if action is None:
            return
        if action.kind == "raise" and fired is not None:
            if point in fired:
                return
            fired.add(point)
        if action.probability < 1.0 and self.rng.random() >= action.probability:
            return
        print(f"payharness fault point {point}: {action.kind}", file=sys.stderr, flush=True)
        if action.kind == "crash":
            os.kill(os.getpid(), signal.SIGKILL)
        elif action.kind == "exit":
            os._exit(70)
        elif action.kind == "pause":
            await asyncio.sleep(action.pause_ms / 1000)
        elif action.kind == "raise":
            raise InjectedError(f"fault point {point}: injected error")


class _RequestFaults:
    """A ``core.runtime.async_runner.FaultPoint`` bound to one request."""

    def __init__(self, points: FaultPoints) -> None:
        self.points = points
        self.fired: set[str] = set()

    async def __call__(self, attempt: str, effect: Effect[Any], when: str) -> None:
        name = POINTS.get((type(effect), when))
        if name is not None:
            await self.points.fire(name, self.fired)
