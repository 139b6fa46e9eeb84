"""An endpoint's figures per payment, what the core flow predicts for them, and the summary
of a whole bench run (``bench.json``; ``reports.bench`` renders it)."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from loadtests.bench.ramp import Level


@dataclass(slots=True)
class EndpointResult:
    name: str
    servers: int
    sustained_per_s: float
    levels: list[Level] = field(default_factory=list)
    redis_commands_per_payment: float = float("nan")
    postgres_tx_per_payment: float = float("nan")
    round_trips_per_payment: dict[str, float] = field(default_factory=dict)
    modelled: dict[str, int] = field(default_factory=dict)
    cpu_ms_per_payment: dict[str, float] = field(default_factory=dict)


def modelled_effects(variant: str) -> dict[str, int]:
    """Redis operations and Postgres statements one new payment yields in the core flow
    (memory runtime, counting effects by backend; a transaction of k writes is counted as
    k + 2 statements: BEGIN, the writes, COMMIT). The live adapter sends a transaction's
    statements in one round trip: the measured round trips are ``server_round_trips``."""
    from core.domain import PaymentRequest
    from core.runtime.world import World
    from core.variants import variant_named

    world = World(variant_named(variant), record_effects=False)
    request = PaymentRequest("m", "o1", 1999, "usd", "tok_visa", "k1")
    return _effects_by_backend(world, request, "a1", statements=True)


def _effects_by_backend(
    world: Any, request: Any, attempt: str, *, statements: bool
) -> dict[str, int]:
    """Drive one request's flow on the memory ``world``, counting its effects by backend
    (with ``statements``, a transaction as its statements; else as one round trip)."""
    from core.effects import DbTransaction
    from core.flows.payment import payment_flow
    from core.runtime.driver import FlowDriver

    driver = FlowDriver(payment_flow(request, world.variant, attempt))
    counts = {"redis": 0, "postgres": 0, "stripe": 0}
    while not driver.done:
        effect = driver.pending
        assert effect is not None
        backend = getattr(effect, "backend", "")
        if backend in counts:
            weight = len(effect.writes) + 2 if isinstance(effect, DbTransaction) else 1
            counts[backend] += weight if statements else 1
        driver.send(world.perform(effect))
    return counts


def summarise(
    results: list[EndpointResult], comps: dict[str, float], args: argparse.Namespace
) -> dict[str, Any]:
    by = {r.name: r for r in results}
    ratio = None
    if "bare" in by and "hardened" in by and by["bare"].sustained_per_s > 0:
        ratio = by["hardened"].sustained_per_s / by["bare"].sustained_per_s
    return {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "slo_ms": args.slo_ms,
        "servers_per_endpoint": args.servers,
        "endpoints": {
            r.name: {
                "sustained_payments_per_s": round(r.sustained_per_s, 1),
                "redis_commands_per_payment": round(r.redis_commands_per_payment, 2),
                "postgres_transactions_per_payment": round(r.postgres_tx_per_payment, 2),
                "round_trips_per_payment": {
                    k: round(v, 2) for k, v in r.round_trips_per_payment.items()
                },
                "modelled_per_payment": r.modelled,
                "cpu_ms_per_payment": r.cpu_ms_per_payment,
                "levels": [asdict(lv) for lv in r.levels],
            }
            for r in results
        },
        "ratio_hardened_to_bare": None if ratio is None else round(ratio, 3),
        "target_ratio": 0.6,
        "components": {k: round(v, 1) for k, v in comps.items()},
    }


def path_floors(variant: str) -> dict[str, dict[str, int]]:
    """The round trips the design allows per path: what the core flow yields (memory
    runtime) for a new payment, its replay (same key and payload again) and a conflict (same
    key, another amount), by backend; a transaction is one round trip, as the live adapter
    sends it."""
    from core.domain import PaymentRequest
    from core.runtime.world import World
    from core.variants import variant_named

    world = World(variant_named(variant), record_effects=False)
    first = PaymentRequest("m", "o1", 1999, "usd", "tok_visa", "k1")
    other = PaymentRequest("m", "o1", 2000, "usd", "tok_visa", "k1")
    paths = (("new", first), ("replay", first), ("conflict", other))
    return {
        path: _effects_by_backend(world, request, f"a{n}", statements=False)
        for n, (path, request) in enumerate(paths)
    }
