"""What a long run's simulation process must hold per payment: the floor under its peak RSS.

A simulated payment leaves state in the three models that later requests and the final state
need (the row and its index entries, the key's saved result and the charge at the provider,
the cached answer in Redis). ``memory_detail`` runs the steady bench's world and weighs
those tables object by object (each object counted once, in the first table that reaches
it), beside the process's RSS growth per payment. ``python3 -c "from sim.bench_memory import
memory_detail; print(memory_detail(50_000))"`` prints it.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterable
from types import BuiltinFunctionType, FunctionType, MethodType, ModuleType
from typing import Any

from core.history import History
from core.variants import variant_named
from sim.bench import steady_scenario
from sim.engine import SimWorld

_OPAQUE = (type, ModuleType, FunctionType, MethodType, BuiltinFunctionType)
"""Not data: a walk stops here (a model's clock or listener would lead to the whole world)."""


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1e6


def weigh(roots: Iterable[Any], seen: set[int]) -> int:
    """Bytes of every object reachable from ``roots`` not in ``seen`` (which it extends)."""
    total = 0
    stack = list(roots)
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, _OPAQUE):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


def memory_detail(payments: int = 50_000, variant: str = "hardened") -> dict[str, float]:
    """Bytes per payment of each model's tables after the steady run (history streamed
    nowhere, as the long run streams it to disk), and the process's RSS growth per payment."""
    gc.collect()
    before = _rss_mb()
    sim = SimWorld(steady_scenario(payments), variant_named(variant),
                   history=History(keep=False), record_effects=False)  # fmt: skip
    sim.run()
    gc.collect()
    grown = _rss_mb() - before
    world = sim.world
    pg, provider, redis = world.postgres, world.stripe, world.redis
    seen: set[int] = set()
    tables: dict[str, list[Any]] = {
        "postgres_rows": [pg.payments],
        "postgres_indexes": [pg.orders, pg._by_key, pg._by_order, pg._seq, pg._open],
        "provider_charges": [provider.charges],
        "provider_keys": [getattr(provider, "_keys", {})],
        "redis_cache": [redis._data],
    }
    figures: dict[str, float] = {"payments": payments, "requests": sim.metrics.attempts}
    for name, roots in tables.items():
        figures[f"{name}_b"] = round(weigh(roots, seen) / payments, 1)
    figures["models_b"] = round(sum(v for k, v in figures.items() if k.endswith("_b")), 1)
    figures["rss_growth_b"] = round(grown * 1e6 / payments, 1)
    return figures
