"""The live exactly-once audit: ``core.checker.check`` over the merged client history, the
run's Postgres rows and the provider's charges.

The final state is fenced to the run: only merchants whose id starts with the run's prefix
(``LoadSettings.merchant_prefix``) are kept, so charges and rows of other runs, tests or
benchmarks sharing the mock or the database never enter the verdict.

E4's "nobody is shown another merchant's payment" is also judged live: the snooper users
(``loadtests.users.Snooper``) read payments with another merchant's API key, and every such
read answered 200 is an E4 violation (``cross_merchant_reads``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from core.checker import PROPERTIES, TITLES, Verdict, Violation, check
from core.history import Event, FinalState
from live.history_file import JsonLinesHistory

AUDIT_JSON = "audit.json"
AUDIT_TEXT = "audit.txt"


class FinalSource(Protocol):
    """Where the final state comes from: the live stack (Postgres + mock) or the stub."""

    def final_state(self, merchant_prefix: str) -> FinalState: ...


def fence(final: FinalState, merchant_prefix: str) -> FinalState:
    """Only what belongs to the run's merchants."""
    mine = merchant_prefix
    return replace(
        final,
        payments=tuple(p for p in final.payments if p.merchant.startswith(mine)),
        orders={mo: pid for mo, pid in final.orders.items() if mo[0].startswith(mine)},
        charges=tuple(c for c in final.charges if c.merchant.startswith(mine)),
        transitions=tuple(
            t
            for t in final.transitions
            if any(p.id == t.payment_id and p.merchant.startswith(mine) for p in final.payments)
        )
        if final.transitions
        else (),
    )


def fill_sources(final: FinalState, events: Iterable[Event]) -> FinalState:
    """A provider lists the card it charged (``card_…``), not the token the client sent
    (``tok_visa``); give each charge the source of its payment row, else of the key's first
    request, so the checker's payload comparison (E6) covers what the provider does record:
    order (metadata), amount and currency."""
    by_key: dict[tuple[str, str], str] = {}
    for p in final.payments:
        by_key.setdefault((p.merchant, p.idempotency_key), p.source)
    for ev in events:
        if ev.kind == "request":
            by_key.setdefault((ev.merchant, ev.key), ev.source)
    charges = tuple(
        replace(c, source=by_key.get((c.merchant, c.key), c.source)) for c in final.charges
    )
    return replace(final, charges=charges)


@dataclass(slots=True)
class AuditResult:
    verdict: Verdict
    final: FinalState
    extra: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        v = self.verdict
        return {
            "ok": v.ok,
            "summary": v.summary(),
            "titles": dict(TITLES),
            "counts": dict(v.counts),
            "violations": [
                {"prop": x.prop, "message": x.message, "trace": list(x.trace)} for x in v.violations
            ],
            "untraced": v.untraced,
            "charges_listed": self.final.charges_listed,
            **self.extra,
        }

    def render(self) -> str:
        v = self.verdict
        lines = ["exactly-once audit: " + ("PASS" if v.ok else "FAIL")]
        for prop, state in v.summary().items():
            lines.append(f"  {prop:3} {state:12} {TITLES[prop]}")
        counts = ", ".join(f"{k}={n}" for k, n in sorted(v.counts.items()))
        lines.append(f"  counts: {counts}")
        reads = self.extra.get("cross_merchant_reads")
        if reads and reads.get("reads"):
            lines.append(
                f"  reads with another merchant's key: {reads['reads']}, shown (200): "
                f"{reads['shown']}, statuses {reads['statuses']}"
            )
        if not self.final.charges_listed:
            lines.append(
                "  the provider cannot list its charges: charges counted from the adapter's log"
            )
        if not v.ok:
            lines.append(v.render())
        return "\n".join(lines)


def cross_merchant_reads(
    reads: Iterable[dict[str, Any]], merchant_prefix: str
) -> tuple[dict[str, Any], list[Violation]]:
    """Counts of the run's reads of a payment with another merchant's key, and one E4
    violation per read that was answered 200 (the payment was shown)."""
    mine = [
        r
        for r in reads
        if str(r["owner"]).startswith(merchant_prefix) and r["reader"] != r["owner"]
    ]
    statuses: dict[str, int] = {}
    violations: list[Violation] = []
    for r in mine:
        statuses[str(r["status"])] = statuses.get(str(r["status"]), 0) + 1
        if int(r["status"]) == 200:
            violations.append(
                Violation(
                    "E4",
                    f"merchant {r['reader']} was shown {r['owner']}'s payment "
                    f"{r['payment_id']} ({r['target']})",
                    trace=(
                        f"t={r['t']} ms GET /payments/{r['payment_id']} as {r['reader']} -> 200",
                    ),
                )
            )
    return {"reads": len(mine), "shown": len(violations), "statuses": statuses}, violations


def audit(
    history_path: Path,
    final: FinalState,
    merchant_prefix: str,
    *,
    eventual: bool = True,
    out_dir: Path | None = None,
    extra: dict[str, Any] | None = None,
    reads: Iterable[dict[str, Any]] = (),
) -> AuditResult:
    """Judge a run; write ``audit.json`` and ``audit.txt`` beside the history."""
    history = JsonLinesHistory(str(history_path))
    fenced = fill_sources(fence(final, merchant_prefix), history)
    verdict = check(history, fenced, eventual=eventual)
    counted, shown = cross_merchant_reads(reads, merchant_prefix)
    verdict.violations.extend(shown)
    result = AuditResult(verdict, fenced, {**(extra or {}), "cross_merchant_reads": counted})
    out = out_dir or history_path.parent
    (out / AUDIT_JSON).write_text(json.dumps(result.to_dict(), indent=2), encoding="utf-8")
    (out / AUDIT_TEXT).write_text(result.render() + "\n", encoding="utf-8")
    return result


def load_audit(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / AUDIT_JSON
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


__all__ = ["PROPERTIES", "AuditResult", "FinalSource", "audit", "fence", "load_audit"]
