"""The one checker: judges a history and final state against the exactly-once properties.

E1 at most one provider charge per (merchant, key); E2 at most one successful charge per
order; E3 charges, COMPLETED payments and paid orders match one to one (after
reconciliation); E4 answers for a key agree, and never say 'failed' for a charge that
succeeded or 'paid' for what was not charged, or show another merchant's payment; E5 nothing
is left unresolved after healing and reconciliation, and a retry then gets a final answer;
E6 a key reused with another payload is refused and charges nothing; E7 a key first used
with a valid payload, for an order not paid under another key, ends charged or definitively
declined: after settling, a refusal (409, 422) or an error is its last word only where the
history justifies it. T: every applied state change is one the state machine allows.
A charge whose amount or currency differs from every request of its key is an E3 violation
(charges and payments do not match), not E6.

Sim, Hypothesis and the live audit all call ``check``; each violation carries a minimal trace.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from sys import intern

from core.domain import FINAL_STATES, Payment, PaymentState
from core.grouped import Grouped
from core.history import Event, FinalState, ListedCharge, events_about

ALWAYS = ("E1", "E2", "E4", "E6", "T")
"""Properties that must hold at every moment, not only after reconciliation."""
EVENTUAL = ("E3", "E5", "E7")
PROPERTIES = ("E1", "E2", "E3", "E4", "E5", "E6", "E7", "T")
TITLES = {
    "E1": "at most one provider charge per (merchant, key)",
    "E2": "at most one successful charge per order",
    "E3": "charges, COMPLETED payments and paid orders match",
    "E4": "answers for a key agree and tell the truth",
    "E5": "nothing left unresolved; retries get the final answer",
    "E6": "a key reused with another payload is refused and charges nothing",
    "E7": "a valid new key ends charged or declined, not refused for good",
    "T": "only allowed state transitions",
}

MerchantKey = tuple[str, str]
MerchantOrder = tuple[str, str]
Payload = tuple[str, int, str, str]  # order, amount, currency, source
ResponseSummary = tuple[int, str, str, str, int, str]
"""status, outcome, payment, charge, amount, currency: what a response told its client."""
PaidClaim = tuple[str, int, str, str, str]  # order, amount, currency, payment's merchant, order


@dataclass(frozen=True, slots=True)
class Violation:
    prop: str
    message: str
    keys: frozenset[MerchantKey] = frozenset()
    orders: frozenset[MerchantOrder] = frozenset()
    trace: tuple[str, ...] = ()

    def render(self) -> str:
        lines = [f"{self.prop} violated: {self.message}"]
        lines += [f"    {line}" for line in self.trace]
        return "\n".join(lines)


@dataclass(slots=True)
class Verdict:
    """The checker's answer: violations found, what was checked, and counts."""

    checked: tuple[str, ...]
    violations: list[Violation] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    untraced: int = 0
    untraced_props: set[str] = field(default_factory=set)
    """Properties broken by violations past ``max_traces`` (kept without a trace)."""

    @property
    def ok(self) -> bool:
        return not self.violations and not self.untraced_props

    def broken(self) -> set[str]:
        return {v.prop for v in self.violations} | self.untraced_props

    def holds(self, prop: str) -> bool | None:
        """True, False, or None when the property was not checked."""
        if prop not in self.checked:
            return None
        return prop not in self.broken()

    def summary(self) -> dict[str, str]:
        return {
            p: ("not checked" if self.holds(p) is None else "holds" if self.holds(p) else "BROKEN")
            for p in PROPERTIES
        }

    def render(self) -> str:
        if self.ok:
            return "all checked properties hold: " + ", ".join(self.checked)
        parts = [v.render() for v in self.violations]
        if self.untraced:
            parts.append(f"... and {self.untraced} more violations of the same kinds")
        return "\n".join(parts)


@dataclass(slots=True)
class _KeyFacts:
    payload: Payload
    accepted: Payload | None = None
    """The payload the gateway first acted on: its first charge or accepting answer. A
    request that crashed before doing anything, or lost the race for the key, does not fix
    the key's payload; until something is accepted, the first request's payload stands."""

    first_final: ResponseSummary | None = None
    told_failed: bool = False
    others: tuple[Payload, ...] = ()
    """The other payloads sent with this key (a client's reuse): almost always none."""
    paid_claims: tuple[PaidClaim, ...] = ()
    """The distinct 'paid' claims made for this key: almost always one, so a tuple (a set
    would cost about 200 bytes a key in a million-request run)."""

    @property
    def reference(self) -> Payload:
        return self.accepted if self.accepted is not None else self.payload


def check(
    events: Iterable[Event],
    final: FinalState,
    *,
    eventual: bool = True,
    max_traces: int = 3,
) -> Verdict:
    """Judge a run. ``eventual`` adds E3 and E5: pass it only after faults have healed and
    reconciliation has run. ``events`` is read twice (the second time only for traces)."""
    checked = ALWAYS + EVENTUAL if eventual else ALWAYS
    found: list[Violation] = []
    keys: dict[MerchantKey, _KeyFacts] = {}
    attempt_payload: dict[str, tuple[MerchantKey, Payload]] = {}
    settle_at: int | None = None
    settle_answers: dict[MerchantKey, tuple[str, Payload]] = {}
    counts: dict[str, int] = defaultdict(int)
    # Built first so that what the tables keep of an answer's charge id is the final state's
    # own string, not one more copy read back from disk per key. The rows are not read until
    # the per-key tables are gone (``_eventual``): a long run keeps them on disk till then.
    charges = {c.id: c for c in final.charges}

    for ev in events:
        counts[ev.kind + "s"] += 1
        if ev.kind == "phase" and ev.detail == "settle":
            settle_at = ev.t
        elif ev.kind == "request":
            # Merchants, currencies and sources repeat across millions of events read back
            # from disk, each as its own string: one shared copy keeps the tables small.
            mk = (intern(ev.merchant), ev.key)
            payload = (ev.order, ev.amount, intern(ev.currency), intern(ev.source))
            attempt_payload[ev.attempt] = (mk, payload)
            facts = keys.get(mk)
            if facts is None:
                keys[mk] = _KeyFacts(payload)
            elif payload != facts.payload and payload not in facts.others:
                facts.others += (payload,)
        elif ev.kind == "charge":
            charged = keys.get((ev.merchant, ev.key))
            if charged is not None and charged.accepted is None:
                # A charge binds the key to a payload only if some request of the key sent it;
                # a charge of an amount nobody asked for binds nothing (E3 reports it).
                accepted = (ev.order, ev.amount, ev.currency, ev.source)
                if accepted == charged.payload:
                    charged.accepted = charged.payload
                elif accepted in charged.others:
                    charged.accepted = accepted
        elif ev.kind == "response":
            known = attempt_payload.pop(ev.attempt, None)
            if known is None:
                continue
            mk, payload = known
            facts = keys[mk]
            if facts.accepted is None and ev.outcome in ("paid", "failed", "pending"):
                facts.accepted = facts.payload if payload == facts.payload else payload
            if payload != facts.reference:
                if ev.outcome in ("paid", "failed", "pending"):
                    found.append(
                        Violation(
                            "E6",
                            f"key {mk[1]!r} of {mk[0]} was reused with another payload "
                            f"({_payload_text(payload)} instead of "
                            f"{_payload_text(facts.reference)}) and answered "
                            f"{ev.status} {ev.outcome} instead of being refused",
                            frozenset({mk}),
                        )
                    )
                continue
            if settle_at is not None and ev.t >= settle_at:
                # Only a key whose latest settle answer is not final can break E5: keep those.
                if ev.outcome in ("paid", "failed"):
                    settle_answers.pop(mk, None)
                else:
                    settle_answers[mk] = (intern(ev.outcome), payload)
            if ev.outcome not in ("paid", "failed"):
                continue
            if ev.outcome == "failed":
                facts.told_failed = True
            else:
                # The amount and currency are what the answer showed; the order strings are
                # the request's own object where equal (one copy of the order per key).
                order = payload[0]
                pay_order = order if ev.payment_order == order else ev.payment_order
                amount = payload[1] if ev.amount == payload[1] else ev.amount
                claim = (
                    order, amount, intern(ev.currency), intern(ev.payment_merchant), pay_order
                )  # fmt: skip
                if claim not in facts.paid_claims:
                    facts.paid_claims += (claim,)
            first = facts.first_final
            answer = _answer(ev, payload[1], charges)
            if first is None:
                facts.first_final = answer
            elif first != answer:
                found.append(
                    Violation(
                        "E4",
                        f"key {mk[1]!r} of {mk[0]} first answered {_answer_text(first)}, "
                        f"later {_answer_text(answer)}",
                        frozenset({mk}),
                    )
                )

    counts["keys"] = len(keys)
    counts["provider_charges"] = len(final.charges)
    counts["successful_charges"] = sum(1 for c in final.charges if c.succeeded)
    counts["payments"] = len(final.payments)
    found += _provider_side(keys, final, eventual=eventual)
    keys.clear()  # the rest reads only the final state: a long run's tables go before it does
    attempt_payload.clear()
    if eventual:
        found += _eventual(final, settle_answers, charges)
    found += [
        Violation(
            "T",
            f"payment {t.payment_id} moved {t.source} → {t.target}, not an allowed transition",
            orders=frozenset(_orders_of_payment(final, t.payment_id)),
        )
        for t in final.transitions
        if not t.legal
    ]
    return _with_traces(Verdict(checked, counts=dict(counts)), found, events, final, max_traces)


def _payload_text(p: Payload) -> str:
    return f"order {p[0]}, {p[1]} {p[2]}, {p[3]}"


def _answer(ev: Event, amount: int, charges: dict[str, ListedCharge]) -> ResponseSummary:
    """A response's answer, made of objects the checker holds anyway where they are equal:
    the request's amount, the final charge's id."""
    charge = charges.get(ev.charge_id)
    return (
        ev.status,
        intern(ev.outcome),
        ev.payment_id,
        ev.charge_id if charge is None else charge.id,
        amount if ev.amount == amount else ev.amount,
        intern(ev.currency),
    )


def _answer_text(answer: ResponseSummary) -> str:
    status, outcome, payment, charge = answer[0], answer[1], answer[2] or "-", answer[3] or "-"
    return f"{status} {outcome} (payment {payment}, charge {charge})"


def _per_merchant(group: list[ListedCharge]) -> list[tuple[str, list[ListedCharge]]]:
    """A group of charges sharing a key or an order, split by merchant (first seen first)."""
    if len(group) == 1:
        return [(group[0].merchant, group)]
    split: dict[str, list[ListedCharge]] = {}
    for c in group:
        split.setdefault(c.merchant, []).append(c)
    return list(split.items())


def _charge_against_key(
    c: ListedCharge, mk: MerchantKey, facts: _KeyFacts, eventual: bool
) -> Violation | None:
    """A charge made under a key: fine when it is the key's accepted payload; E6 when it is
    another payload a client sent with the key (a reuse was charged); E3 when its amount or
    currency is one no request of the key asked for (the charge does not match its request)."""
    made_with = (c.order, c.amount, c.currency, c.source)
    if made_with == facts.reference:
        return None
    sent = (facts.payload, *facts.others)
    if made_with not in sent and any((p[0], p[3]) == (c.order, c.source) for p in sent):
        if not eventual:
            return None
        asked = ", ".join(sorted({f"{p[1]} {p[2]}" for p in sent}))
        return Violation(
            "E3",
            f"charge {c.id} for key {mk[1]!r} of {mk[0]} took {c.amount} {c.currency}, an "
            f"amount no request of the key asked for ({asked})",
            frozenset({mk}),
            frozenset({(mk[0], c.order)}),
        )
    return Violation(
        "E6",
        f"charge {c.id} for key {mk[1]!r} of {mk[0]} used {_payload_text(made_with)}, "
        f"not the key's first payload {_payload_text(facts.reference)}",
        frozenset({mk}),
    )


def _provider_side(
    keys: dict[MerchantKey, _KeyFacts], final: FinalState, *, eventual: bool
) -> list[Violation]:
    found: list[Violation] = []
    by_key: Grouped[ListedCharge] = Grouped()
    by_order: Grouped[ListedCharge] = Grouped()  # successful charges only
    for c in final.charges:
        if not c.merchant:
            continue  # not made by the gateway (a bare benchmark charge)
        by_key.add(c.key, c)
        if c.succeeded:
            by_order.add(c.order, c)

    for key, group in by_key.groups():
        for merchant, made in _per_merchant(group):
            mk = (merchant, key)
            if len(made) > 1:
                found.append(
                    Violation(
                        "E1",
                        f"key {key!r} of {merchant} was charged {len(made)} times: "
                        + ", ".join(f"{c.id} ({c.amount} {c.currency})" for c in made),
                        frozenset({mk}),
                        frozenset((c.merchant, c.order) for c in made),
                    )
                )
            facts = keys.get(mk)
            if facts is not None:
                found += [v for c in made if (v := _charge_against_key(c, mk, facts, eventual))]
    for order, group in by_order.groups(several=True):
        for merchant, paid in _per_merchant(group):
            if len(paid) > 1:
                found.append(
                    Violation(
                        "E2",
                        f"order {order} of {merchant} was charged successfully {len(paid)} "
                        "times: " + ", ".join(f"{c.id} under key {c.key!r}" for c in paid),
                        frozenset((c.merchant, c.key) for c in paid),
                        frozenset({(merchant, order)}),
                    )
                )

    for mk, facts in keys.items():
        succeeded = [c for c in by_key.get(mk[1]) if c.merchant == mk[0] and c.succeeded]
        if facts.told_failed and succeeded and final.charges_listed:
            found.append(
                Violation(
                    "E4",
                    f"key {mk[1]!r} of {mk[0]} was told 'failed' but charge "
                    f"{succeeded[0].id} succeeded",
                    frozenset({mk}),
                    frozenset({(mk[0], facts.payload[0])}),
                )
            )
        for order, amount, currency, pay_merchant, _pay_order in sorted(facts.paid_claims):
            if pay_merchant and pay_merchant != mk[0]:
                found.append(
                    Violation(
                        "E4",
                        f"key {mk[1]!r} of {mk[0]} was shown merchant {pay_merchant}'s payment",
                        frozenset({mk, (pay_merchant, mk[1])}),
                    )
                )
                continue
            charged = [
                c
                for c in by_order.get(order)
                if c.merchant == mk[0] and c.amount == amount and c.currency == currency
            ]
            if final.charges_listed and not charged:
                found.append(
                    Violation(
                        "E4",
                        f"key {mk[1]!r} of {mk[0]} was told 'paid' ({amount} {currency}) but "
                        f"order {order} has no successful charge of that amount",
                        frozenset({mk}),
                        frozenset({(mk[0], order)}),
                    )
                )
    return found


def _eventual(
    final: FinalState,
    settle_answers: dict[MerchantKey, tuple[str, Payload]],
    charges: dict[str, ListedCharge],
) -> list[Violation]:
    found: list[Violation] = []
    rows = tuple(final.payments)  # read once (a long run's rows come from disk)
    payments = {p.id: p for p in rows}
    rows_by_charge: Grouped[Payment] = Grouped()
    for p in rows:
        if p.charge_id and p.state is PaymentState.COMPLETED:
            rows_by_charge.add(p.charge_id, p)
    if final.charges_listed:
        for c in final.charges:
            if not c.succeeded or not c.merchant:
                continue
            recorded = rows_by_charge.get(c.id)
            if not any(r.amount == c.amount and r.currency == c.currency for r in recorded):
                found.append(
                    Violation(
                        "E3",
                        f"charge {c.id} ({c.amount} {c.currency}, order {c.order}) has no "
                        "COMPLETED payment of that amount: money taken, nothing recorded",
                        frozenset({(c.merchant, c.key)}),
                        frozenset({(c.merchant, c.order)}),
                    )
                )
    for p in rows:
        mk, mo = (p.merchant, p.idempotency_key), (p.merchant, p.order)
        if p.state is PaymentState.COMPLETED:
            row_charge = charges.get(p.charge_id or "")
            if final.charges_listed and (
                row_charge is None
                or not row_charge.succeeded
                or (row_charge.amount, row_charge.currency) != (p.amount, p.currency)
            ):
                found.append(
                    Violation(
                        "E3",
                        f"payment {p.id} is COMPLETED but charge {p.charge_id} is not a "
                        f"successful {p.amount} {p.currency} charge at the provider",
                        frozenset({mk}),
                        frozenset({mo}),
                    )
                )
            if final.orders.get(mo) is None:
                found.append(
                    Violation(
                        "E3",
                        f"payment {p.id} is COMPLETED but order {p.order} is not marked paid",
                        frozenset({mk}),
                        frozenset({mo}),
                    )
                )
        elif p.state not in FINAL_STATES:
            found.append(
                Violation(
                    "E5",
                    f"payment {p.id} is still {p.state} after healing and reconciliation",
                    frozenset({mk}),
                    frozenset({mo}),
                )
            )
    for mo, payment_id in final.orders.items():
        row = payments.get(payment_id)
        if (
            row is None
            or row.state is not PaymentState.COMPLETED
            or (row.merchant, row.order) != mo
        ):
            state = "missing" if row is None else str(row.state)
            found.append(
                Violation(
                    "E3",
                    f"order {mo[1]} of {mo[0]} is marked paid by payment {payment_id}, "
                    f"which is {state}",
                    orders=frozenset({mo}),
                )
            )
    # settle_answers holds only keys whose last settle answer was not final: few, so only
    # their rows (with the payloads they hold) and charges are looked for.
    row_payloads: dict[MerchantKey, set[Payload]] = defaultdict(set)
    for p in rows:
        if (mk := (p.merchant, p.idempotency_key)) in settle_answers:
            row_payloads[mk].add((p.order, p.amount, p.currency, p.source))
    with_rows = set(row_payloads)
    with_rows |= {mk for c in final.charges if c.merchant and (mk := (c.merchant, c.key)) in
                  settle_answers}  # fmt: skip
    # Orders held under some key: a COMPLETED or unresolved row, or a successful charge. A new
    # key for such an order is rightly refused with 409 (E7 asks this of the other keys).
    taken = {(p.merchant, p.order) for p in rows if p.state is not PaymentState.FAILED}
    taken |= {(c.merchant, c.order) for c in final.charges if c.succeeded and c.merchant}
    for mk, (outcome, payload) in sorted(settle_answers.items()):
        # A key the gateway bound to another payload than the retried one (its rows hold only
        # others: the first request crashed before its insert, a reuse won the key) refuses
        # that payload for good; the refusal is the final answer for it.
        held = row_payloads.get(mk)
        if outcome == "rejected" and held and payload not in held:
            continue
        if mk in with_rows:
            found.append(
                Violation(
                    "E5",
                    f"key {mk[1]!r} of {mk[0]} retried after settling got '{outcome}', "
                    "not its final answer",
                    frozenset({mk}),
                )
            )
            continue
        # E7: no row and no charge under the key, yet it is turned away after settling. Only
        # the order being paid (or held) under another key justifies that (a 409 conflict).
        mo = (mk[0], payload[0])
        if outcome == "conflict" and mo in taken:
            continue
        found.append(
            Violation(
                "E7",
                f"key {mk[1]!r} of {mk[0]} ({_payload_text(payload)}) has no payment and no "
                f"charge, its order is not paid under another key, and retried after "
                f"settling it still got '{outcome}': a valid request refused for good",
                frozenset({mk}),
                frozenset({mo}),
            )
        )
    return found


def _orders_of_payment(final: FinalState, payment_id: str) -> set[MerchantOrder]:
    return {(p.merchant, p.order) for p in final.payments if p.id == payment_id}


def _with_traces(
    verdict: Verdict,
    found: list[Violation],
    events: Iterable[Event],
    final: FinalState,
    max_traces: int,
) -> Verdict:
    """Attach a minimal trace to the first ``max_traces`` violations of each property."""
    per_prop: dict[str, int] = defaultdict(int)
    for v in found:
        per_prop[v.prop] += 1
        if per_prop[v.prop] > max_traces:
            verdict.untraced += 1
            verdict.untraced_props.add(v.prop)
            continue
        keys = set(v.keys)
        orders = set(v.orders)
        trace = [e.describe() for e in events_about(events, keys, orders)]
        for p in final.payments:
            if (p.merchant, p.idempotency_key) in keys or (p.merchant, p.order) in orders:
                trace.append(
                    f"final ROW {p.id} {p.state} {p.merchant}/{p.idempotency_key} "
                    f"order={p.order} {p.amount} {p.currency} charge={p.charge_id}"
                )
        for c in final.charges:
            if (c.merchant, c.key) in keys or (c.merchant, c.order) in orders:
                status = "succeeded" if c.succeeded else "failed"
                trace.append(
                    f"final CHARGE {c.id} {status} {c.amount} {c.currency} "
                    f"{c.merchant}/{c.key} order={c.order}"
                )
        verdict.violations.append(Violation(v.prop, v.message, v.keys, v.orders, tuple(trace)))
    return verdict
