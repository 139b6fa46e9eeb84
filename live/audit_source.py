"""Read the final state of a live stack for the checker (``core.checker.check``).

``live_final_state`` is the one function the load harness calls after a run: payments,
paid orders and applied transitions from Postgres, and the provider's charges, either listed
from the provider (stripe-stateful-mock, a Stripe test account) or, for a stateless stand-in
that cannot list what it charged, rebuilt from the adapter's call log with
``charges_listed=False`` so the checker knows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from core.domain import Payment
from core.history import AppliedTransition, FinalState, ListedCharge
from core.variants import variant_named
from live.config import LiveConfig
from live.postgres_store import PostgresStore
from live.stripe_provider import StripeProvider, listed


async def live_final_state(
    config: LiveConfig | None = None,
    *,
    variant: str | None = None,
    call_logs: list[str] | None = None,
) -> FinalState:
    """The stack's final state. ``variant`` limits rows to one variant (None: all rows).

    Charges come from the provider's list when ``config.stripe_lists_charges``; otherwise from
    ``call_logs`` (default: ``config.stripe_call_log``), JSON lines written by the adapter.
    """
    cfg = config or LiveConfig.from_env()
    store = PostgresStore(
        cfg.database_url, cfg.db_schema, variant_named(variant or cfg.variant), max_size=2
    )
    await store.open()
    try:
        payments = await store.all_payments(variant)
        orders = await store.all_orders(variant)
        transitions = await store.all_transitions(variant)
    finally:
        await store.close()
    if cfg.stripe_lists_charges:
        provider = StripeProvider(cfg.stripe_api_base, cfg.stripe_api_key, timeout_s=60.0)
        index = RowIndex.of(payments)
        charges = tuple(with_request_source(c, index) for c in await provider.list_raw())
        listed = True
    else:
        logs = call_logs if call_logs is not None else [p for p in [cfg.stripe_call_log] if p]
        charges = charges_from_call_logs(logs)
        listed = False
    return FinalState(
        payments=tuple(payments),
        orders=orders,
        charges=charges,
        transitions=tuple(
            AppliedTransition(t.payment_id, t.source, t.target, t.legal, t.at_ms)
            for t in transitions
        ),
        charges_listed=listed,
    )


@dataclass(frozen=True, slots=True)
class RowIndex:
    by_id: dict[str, Payment]
    by_key: dict[tuple[str, str], Payment]

    @classmethod
    def of(cls, payments: list[Payment]) -> RowIndex:
        by_key: dict[tuple[str, str], Payment] = {}
        for p in payments:
            by_key.setdefault((p.merchant, p.idempotency_key), p)
        return cls({p.id: p for p in payments}, by_key)

    def row_for(self, md: dict[str, Any]) -> Payment | None:
        pid = md.get("payment_id")
        if pid is not None and pid in self.by_id:
            return self.by_id[pid]
        return self.by_key.get((str(md.get("merchant", "")), str(md.get("idempotency_key", ""))))


def with_request_source(charge: dict[str, Any], index: RowIndex) -> ListedCharge:
    """The listed charge with the *request's* source token.

    A provider lists a charge's source as the card it made from the token (``card_…``), never
    the token itself, so the token is taken from the payment row the charge belongs to, and
    only when the charge's ``fingerprint`` metadata (a hash over the request payload, source
    included, sent by the core with every charge) equals that row's fingerprint. Otherwise
    the provider's card id stays, and the checker's E6 flags the charge.
    """
    out = listed(charge)
    md = charge.get("metadata") or {}
    row = index.row_for(md)
    if row is not None and md.get("fingerprint") == row.fingerprint:
        out = replace(out, source=row.source)
    return out


def charges_from_call_logs(paths: list[str]) -> tuple[ListedCharge, ...]:
    """Distinct charge ids seen in the adapters' call logs (replays counted once)."""
    seen: dict[str, ListedCharge] = {}
    for path in paths:
        file = Path(path)
        if not file.exists():
            continue
        with file.open(encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                call = json.loads(line)
                charge_id = call.get("charge_id")
                if not charge_id or charge_id in seen:
                    continue
                md = call.get("metadata") or {}
                seen[charge_id] = ListedCharge(
                    id=charge_id,
                    amount=int(call["amount"]),
                    currency=str(call["currency"]),
                    succeeded=call.get("outcome") == "succeeded",
                    merchant=str(md.get("merchant", "")),
                    key=str(md.get("idempotency_key", "")),
                    order=str(md.get("order", "")),
                    provider_key=str(call.get("idempotency_key", "")),
                    source=str(call.get("source", "")),
                    created_ms=int(call.get("t_ms", 0)),
                )
    return tuple(seen.values())
