"""The reconciliation worker: ``core.flows.reconcile.reconcile_flow`` on the live transport.

One *run* makes passes of up to ``limit`` rows until a pass finds fewer rows than the limit,
or resolves nothing, or ``max_passes`` is reached. ``reconcile_every`` repeats runs every S
seconds until stopped (or for ``max_runs``).
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field

from core.flows.reconcile import ReconcileReport, reconcile_flow
from core.runtime.async_runner import run_async
from core.variants import Variant
from live.metrics import AGE_BUCKETS, BACKLOG_STATES, RECONCILER_ACTIONS, set_backlog
from live.transport import LiveTransport


@dataclass(slots=True)
class RunReport:
    passes: int = 0
    examined: int = 0
    completed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)

    def add(self, report: ReconcileReport) -> None:
        self.passes += 1
        self.examined += report.examined
        self.completed.extend(report.completed)
        self.failed.extend(report.failed)
        self.left = list(report.left)

    def summary(self) -> str:
        return (
            f"passes={self.passes} examined={self.examined} completed={len(self.completed)} "
            f"failed={len(self.failed)} left={len(self.left)}"
        )


async def reconcile_once(
    transport: LiveTransport,
    variant: Variant | None = None,
    *,
    limit: int = 100,
    max_passes: int = 50,
) -> RunReport:
    chosen = variant or transport.variant
    run = RunReport()
    for _ in range(max_passes):
        report = await run_async(
            reconcile_flow(chosen, limit=limit, provider=transport.contract),
            transport,
            attempt="reconcile",
        )
        run.add(report)
        resolved = len(report.completed) + len(report.failed)
        if report.examined < limit or resolved == 0:
            break
    RECONCILER_ACTIONS.labels("run").inc()
    RECONCILER_ACTIONS.labels("completed").inc(len(run.completed))
    RECONCILER_ACTIONS.labels("failed").inc(len(run.failed))
    RECONCILER_ACTIONS.labels("left").inc(len(run.left))
    return run


def _backlog_sql() -> str:
    """Rows of one variant in the reconciler's states, counted by state and age bucket."""
    cases = " ".join(
        f"WHEN age_ms < {bound} THEN '{label}'" for label, bound in AGE_BUCKETS if bound is not None
    )
    states = ", ".join(f"'{s}'" for s in BACKLOG_STATES)
    return (
        f"SELECT state, CASE {cases} ELSE '{AGE_BUCKETS[-1][0]}' END, count(*) FROM "
        f"(SELECT state, %s - created_ms AS age_ms FROM payments "
        f"WHERE variant = %s AND state IN ({states})) AS unsettled GROUP BY 1, 2"
    )


BACKLOG_SQL = _backlog_sql()


async def scan_backlog(transport: LiveTransport, variant: Variant) -> dict[tuple[str, str], int]:
    """Set the backlog gauge's cells for ``variant`` from one read (the same partial index
    as the reconciler's own query, ``payments_unsettled``, covers it)."""
    rows = await transport.postgres.query(BACKLOG_SQL, (transport.clock(), variant.name))
    counts = {(str(state), str(age)): int(n) for state, age, n in rows}
    set_backlog(counts)
    return counts


async def reconcile_every(
    transport: LiveTransport,
    every_s: float,
    variant: Variant | None = None,
    *,
    max_runs: int | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Repeat ``reconcile_once``; returns how many runs were made."""
    runs = 0
    halt = stop or asyncio.Event()
    chosen = variant or transport.variant
    while max_runs is None or runs < max_runs:
        try:
            await scan_backlog(transport, chosen)
            report = await reconcile_once(transport, variant)
            if report.examined:
                print(f"reconcile: {report.summary()}", file=sys.stderr, flush=True)
        except Exception as exc:  # keep the worker alive across a backend outage
            print(f"reconcile: run failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        runs += 1
        try:
            await asyncio.wait_for(halt.wait(), every_s)
            break
        except TimeoutError:
            continue
    return runs
