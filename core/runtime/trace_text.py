"""How traces show values and effects: one wording for every runtime's history and every
printed trace (the memory runtime, the stepper, the simulator)."""

from __future__ import annotations

from typing import Any

from core.domain import Payment, Response
from core.effects import (
    CachePut,
    CachePutAndRelease,
    DbTransaction,
    Effect,
    OrderMarkPaid,
    PaymentInsert,
    PaymentTransition,
    ProviderCharge,
)


def short(value: object) -> str:
    """A value as a trace shows it: responses and rows by their essentials."""
    if isinstance(value, Response):
        return f"<{value.status} {value.outcome.value} {value.code} payment={value.payment_id}>"
    if isinstance(value, Payment):
        return f"<row {value.id} {value.state} {value.merchant}/{value.idempotency_key}>"
    if isinstance(value, PaymentInsert):
        return f"insert {short(value.payment)}"
    if isinstance(value, PaymentTransition):
        source = value.expected or "any"
        return f"{value.payment_id} {source}→{value.target}"
    if isinstance(value, OrderMarkPaid):
        return f"order {value.order} paid by {value.payment_id}"
    return repr(value)


def clip(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` characters at a word boundary (the last space, after
    a comma when there is one), marked with " …"; a trace line never ends mid-word."""
    if len(text) <= width:
        return text
    head = text[: width - 2]
    cut = head.rfind(" ")
    if cut <= 0:
        return text  # one long word: keep it whole rather than cut it
    return head[:cut].rstrip() + " …"


def describe(effect: Effect[Any]) -> str:
    """An effect as a trace shows it."""
    name = type(effect).__name__
    if isinstance(effect, ProviderCharge):
        key, amount = effect.idempotency_key, f"{effect.amount} {effect.currency}"
        return f"{name}(key={key!r}, {amount}, {effect.source})"
    if isinstance(effect, DbTransaction):
        return f"{name}[{'; '.join(short(w) for w in effect.writes)}]"
    if isinstance(effect, CachePut):
        return f"{name}({effect.key!r}, {short(effect.response)})"
    if isinstance(effect, CachePutAndRelease):
        return f"{name}({effect.cache_key!r}, {short(effect.response)}, {effect.lock_key!r})"
    if isinstance(effect, PaymentInsert | PaymentTransition):
        return f"{name}({short(effect)})"
    return clip(repr(effect).replace("\n", " "), 240)
