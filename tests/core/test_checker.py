"""The checker finds exactly the property a hand-made history violates, and passes clean ones."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.checker import check
from core.domain import Payment, PaymentState
from core.history import AppliedTransition, Event, FinalState, ListedCharge

M = "m-1"


def request(t: int, attempt: str, key: str, order: str = "o-1", amount: int = 1999) -> Event:
    return Event(t=t, kind="request", attempt=attempt, merchant=M, key=key, order=order,
                 amount=amount, currency="usd", source="tok_visa")  # fmt: skip


def response(t: int, attempt: str, key: str, status: int, outcome: str, *, order: str = "o-1",
             payment: str = "", charge: str = "", amount: int = 1999,
             payment_merchant: str = M) -> Event:  # fmt: skip
    return Event(t=t, kind="response", attempt=attempt, merchant=M, key=key, order=order,
                 amount=amount if payment else -1, currency="usd" if payment else "",
                 status=status, outcome=outcome, payment_id=payment, charge_id=charge,
                 payment_merchant=payment_merchant if payment else "")  # fmt: skip


def charge(cid: str, key: str, order: str = "o-1", amount: int = 1999,
           succeeded: bool = True) -> ListedCharge:  # fmt: skip
    return ListedCharge(cid, amount, "usd", succeeded, M, key, order, f"{M}:{key}", "tok_visa")


def row(pid: str, key: str, state: PaymentState = PaymentState.COMPLETED, order: str = "o-1",
        charge_id: str | None = None, amount: int = 1999) -> Payment:  # fmt: skip
    return Payment(pid, M, order, key, amount, "usd", "tok_visa", "fp", f"{M}:{key}", state, 0,
                   charge_id)  # fmt: skip


CLEAN_EVENTS = [
    request(0, "a1", "k1"),
    response(5, "a1", "k1", 201, "paid", payment="pay_1", charge="ch_1"),
    request(6, "a2", "k1"),
    response(7, "a2", "k1", 201, "paid", payment="pay_1", charge="ch_1"),
]
CLEAN_FINAL = FinalState(
    payments=(row("pay_1", "k1", charge_id="ch_1"),),
    orders={(M, "o-1"): "pay_1"},
    charges=(charge("ch_1", "k1"),),
)


def test_a_clean_history_passes_every_property() -> None:
    verdict = check(CLEAN_EVENTS, CLEAN_FINAL)
    assert verdict.ok, verdict.render()
    assert verdict.checked == ("E1", "E2", "E4", "E6", "T", "E3", "E5", "E7")


def test_a_clean_decline_passes() -> None:
    events = [request(0, "a1", "k1"), response(1, "a1", "k1", 402, "failed", payment="pay_1")]
    final = FinalState(
        payments=(row("pay_1", "k1", PaymentState.FAILED, charge_id="ch_1"),),
        orders={},
        charges=(charge("ch_1", "k1", succeeded=False),),
    )
    assert check(events, final).ok


def cases() -> dict[str, tuple[list[Event], FinalState]]:
    return {
        "E1": (
            CLEAN_EVENTS,
            replace(
                CLEAN_FINAL, charges=(*CLEAN_FINAL.charges, charge("ch_2", "k1", succeeded=False))
            ),
        ),
        "E2": (
            [
                *CLEAN_EVENTS,
                request(10, "a3", "k2"),
                response(11, "a3", "k2", 201, "paid", payment="pay_2", charge="ch_2"),
            ],
            replace(
                CLEAN_FINAL,
                payments=(*CLEAN_FINAL.payments, row("pay_2", "k2", charge_id="ch_2")),
                charges=(*CLEAN_FINAL.charges, charge("ch_2", "k2")),
            ),
        ),
        "E3": (
            [request(0, "a1", "k1"), response(1, "a1", "k1", 202, "pending")],
            FinalState(payments=(), orders={}, charges=(charge("ch_1", "k1"),)),
        ),
        "E4": (
            [*CLEAN_EVENTS, request(8, "a3", "k1"), response(9, "a3", "k1", 402, "failed")],
            CLEAN_FINAL,
        ),
        "E5": (
            [request(0, "a1", "k1"), response(1, "a1", "k1", 202, "pending", payment="pay_1")],
            FinalState(payments=(row("pay_1", "k1", PaymentState.PENDING),), orders={}, charges=()),
        ),
        "E6": (
            [
                *CLEAN_EVENTS,
                request(8, "a3", "k1", amount=2999),
                response(9, "a3", "k1", 201, "paid", payment="pay_1", charge="ch_1"),
            ],
            CLEAN_FINAL,
        ),
        "E7": (
            [
                *CLEAN_EVENTS,
                request(10, "a3", "k2", order="o-2"),
                response(11, "a3", "k2", 409, "in_flight"),
                Event(t=50, kind="phase", detail="settle"),
                request(51, "a4", "k2", order="o-2"),
                response(52, "a4", "k2", 409, "conflict"),
            ],
            CLEAN_FINAL,
        ),
        "T": (
            CLEAN_EVENTS,
            replace(
                CLEAN_FINAL,
                transitions=(
                    AppliedTransition("pay_1", PaymentState.FAILED, PaymentState.COMPLETED, False),
                ),
            ),
        ),
    }


@pytest.mark.parametrize("prop", ["E1", "E2", "E3", "E4", "E5", "E6", "E7", "T"])
def test_each_violation_is_found_alone(prop: str) -> None:
    events, final = cases()[prop]
    verdict = check(events, final)
    assert verdict.broken() == {prop}, verdict.render()
    violation = verdict.violations[0]
    assert violation.trace, "a violation carries a trace"
    assert all(line.strip() for line in violation.trace)


@pytest.mark.parametrize("prop", ["E1", "E2", "E3", "E4", "E5", "E6", "T"])
def test_a_violation_past_the_trace_limit_still_breaks_its_property(prop: str) -> None:
    events, final = cases()[prop]
    verdict = check(events, final, max_traces=0)
    assert verdict.violations == []
    assert verdict.broken() == {prop} and verdict.holds(prop) is False and not verdict.ok


def test_e6_also_catches_a_charge_made_with_the_reused_payload() -> None:
    events = [
        request(0, "a1", "k1"),
        response(1, "a1", "k1", 503, "error"),
        request(2, "a2", "k1", amount=2999),
        response(3, "a2", "k1", 422, "rejected"),
    ]
    final = FinalState(
        payments=(row("pay_2", "k1", charge_id="ch_1", amount=2999),),
        orders={(M, "o-1"): "pay_2"},
        charges=(charge("ch_1", "k1", amount=2999),),
    )
    verdict = check(events, final)
    assert verdict.broken() == {"E6"}, verdict.render()
    assert "2999" in verdict.violations[0].message


def test_e4_catches_another_merchants_payment_and_unpaid_claims() -> None:
    events = [
        request(0, "a1", "k1"),
        response(
            1, "a1", "k1", 201, "paid", payment="pay_9", charge="ch_9", payment_merchant="m-2"
        ),
    ]
    final = FinalState(payments=(), orders={}, charges=())
    verdict = check(events, final, eventual=False)
    assert verdict.broken() == {"E4"}
    assert "merchant m-2's payment" in verdict.violations[0].message

    events = [request(0, "a1", "k1"), response(1, "a1", "k1", 201, "paid", payment="pay_1")]
    verdict = check(events, FinalState(payments=(), orders={}, charges=()), eventual=False)
    assert verdict.broken() == {"E4"}
    assert "no successful charge" in verdict.violations[0].message


def test_e5_retry_after_settling_must_get_the_final_answer() -> None:
    events = [
        *CLEAN_EVENTS,
        Event(t=50, kind="phase", detail="settle"),
        request(51, "a9", "k1"),
        response(52, "a9", "k1", 503, "error"),
    ]
    verdict = check(events, CLEAN_FINAL)
    assert verdict.broken() == {"E5"}, verdict.render()


def test_eventual_properties_only_when_asked() -> None:
    events, final = cases()["E3"]
    verdict = check(events, final, eventual=False)
    assert verdict.ok
    assert verdict.holds("E3") is None


def test_trace_is_minimal_and_readable() -> None:
    events, final = cases()["E2"]
    noise = [
        request(1, "z1", "unrelated", order="o-9"),
        response(2, "z1", "unrelated", 503, "error"),
    ]
    verdict = check([*noise, *events], final)
    trace = "\n".join(verdict.violations[0].trace)
    assert "unrelated" not in trace
    assert "REQUEST m-1/k1" in trace and "REQUEST m-1/k2" in trace
    assert "final CHARGE ch_2" in trace


def test_e4_names_both_disagreeing_answers() -> None:
    events, final = cases()["E4"]
    messages = [v.message for v in check(events, final).violations]
    assert (
        "key 'k1' of m-1 first answered 201 paid (payment pay_1, charge ch_1), "
        "later 402 failed (payment -, charge -)"
    ) in messages, messages


def test_a_key_or_order_shared_by_two_merchants_is_judged_per_merchant() -> None:
    """Charges are grouped by key and by order string; merchants sharing one stay apart."""
    other = "m-2"
    events = [
        *CLEAN_EVENTS,
        replace(request(10, "b1", "k1"), merchant=other),
        replace(
            response(11, "b1", "k1", 201, "paid", payment="pay_9", charge="ch_9"),
            merchant=other,
            payment_merchant=other,
        ),
    ]
    theirs = replace(charge("ch_9", "k1"), merchant=other, provider_key=f"{other}:k1")
    final = replace(
        CLEAN_FINAL,
        payments=(
            *CLEAN_FINAL.payments,
            replace(row("pay_9", "k1", charge_id="ch_9"), merchant=other),
        ),
        orders={**CLEAN_FINAL.orders, (other, "o-1"): "pay_9"},
        charges=(*CLEAN_FINAL.charges, theirs),
    )
    assert check(events, final).ok, check(events, final).render()

    twice = replace(theirs, id="ch_10")
    verdict = check(events, replace(final, charges=(*final.charges, twice)))
    e1 = [v for v in verdict.violations if v.prop == "E1"]
    assert [v.keys for v in e1] == [frozenset({(other, "k1")})]
    assert "ch_9" in e1[0].message and "ch_10" in e1[0].message and "ch_1 " not in e1[0].message
    e2 = [v for v in verdict.violations if v.prop == "E2"]
    assert [v.orders for v in e2] == [frozenset({(other, "o-1")})]


def test_only_the_last_settle_answer_of_a_key_counts() -> None:
    """A non-final answer in the settle phase followed by the final one is no E5 violation;
    the other way round it is."""
    settle = Event(t=50, kind="phase", detail="settle")
    busy = [request(51, "a8", "k1"), response(52, "a8", "k1", 409, "in_flight")]
    paid = [request(53, "a9", "k1"),
            response(54, "a9", "k1", 201, "paid", payment="pay_1", charge="ch_1")]  # fmt: skip
    assert check([*CLEAN_EVENTS, settle, *busy, *paid], CLEAN_FINAL).ok
    verdict = check([*CLEAN_EVENTS, settle, *paid, *busy], CLEAN_FINAL)
    assert verdict.broken() == {"E5"}, verdict.render()


def test_a_refusal_after_settling_is_final_for_a_payload_the_key_was_not_bound_to() -> None:
    """The key's first request crashed before its insert and a reuse with another amount
    bound the key (its row, never charged, ended FAILED; no answer or charge told anyone).
    Retrying the first payload after settling is refused with 422, and that refusal is its
    final answer (nightly gate, 2026-11-30). Had the row been the first payload's, the same
    refusal would break E5."""
    settle = Event(t=50, kind="phase", detail="settle")
    sent = [request(0, "a1", "k1"), request(1, "a2", "k1", amount=2999)]
    final = FinalState(
        payments=(row("pay_a2", "k1", PaymentState.FAILED, amount=2999),), orders={}, charges=()
    )
    first_refused = [request(51, "a9", "k1"), response(52, "a9", "k1", 422, "rejected")]
    assert check([*sent, settle, *first_refused], final).ok
    bound_to_first = replace(final, payments=(row("pay_a1", "k1", PaymentState.FAILED),))
    verdict = check([*sent, settle, *first_refused], bound_to_first)
    assert verdict.broken() == {"E5"}, verdict.render()


SETTLE = Event(t=50, kind="phase", detail="settle")


def test_e7_a_new_key_for_an_order_paid_under_another_key_may_be_refused() -> None:
    """k2 pays o-1 again after k1 paid it: 409 after settling is the truth, not E7."""
    events = [
        *CLEAN_EVENTS,
        request(10, "a3", "k2"),
        SETTLE,
        request(51, "a4", "k2"),
        response(52, "a4", "k2", 409, "conflict"),
    ]
    assert check(events, CLEAN_FINAL).ok, check(events, CLEAN_FINAL).render()


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(409, "conflict"), (409, "in_flight"), (422, "rejected"), (503, "error")],
)
def test_e7_a_valid_key_refused_for_good_is_a_violation(status: int, outcome: str) -> None:
    """k2 for o-2 (nobody paid it) has no row and no charge and is still turned away after
    settling: refused for good. A final answer instead (402) holds."""
    sent = [*CLEAN_EVENTS, request(10, "a3", "k2", order="o-2"), SETTLE]
    refused = [request(51, "a4", "k2", order="o-2"), response(52, "a4", "k2", status, outcome)]
    verdict = check([*sent, *refused], CLEAN_FINAL)
    assert verdict.broken() == {"E7"}, verdict.render()
    assert "refused for good" in verdict.violations[0].message
    assert not check([*sent, *refused], CLEAN_FINAL, eventual=False).violations
    declined = [request(51, "a4", "k2", order="o-2"),
                response(52, "a4", "k2", 402, "failed", order="o-2", payment="pay_2")]  # fmt: skip
    final = replace(
        CLEAN_FINAL,
        payments=(*CLEAN_FINAL.payments, row("pay_2", "k2", PaymentState.FAILED, order="o-2")),
    )
    assert check([*sent, *declined], final).ok, check([*sent, *declined], final).render()


def test_e3_a_charge_of_an_amount_no_request_asked_for() -> None:
    """The gateway charged 2999 for a request of 1999: E3 (charge and payment disagree), not
    E6, which is about a client's reused payload. Had a client sent 2999 under the key, the
    charge would be the reuse charged: E6."""
    wrong = replace(charge("ch_1", "k1"), amount=2999)
    verdict = check(CLEAN_EVENTS, replace(CLEAN_FINAL, charges=(wrong,)))
    assert "E6" not in verdict.broken(), verdict.render()
    e3 = [v for v in verdict.violations if v.prop == "E3"]
    assert any("no request of the key asked for (1999 usd)" in v.message for v in e3), e3
    # the client was told 'paid 1999', which no charge backs: E4 says so at once, E3 only after
    # settling
    during = check(CLEAN_EVENTS, replace(CLEAN_FINAL, charges=(wrong,)), eventual=False)
    assert during.broken() == {"E4"}, during.render()
    reused = [*CLEAN_EVENTS, request(8, "a3", "k1", amount=2999)]
    verdict = check(reused, replace(CLEAN_FINAL, charges=(wrong,)))
    assert "E6" in verdict.broken(), verdict.render()
    assert check(CLEAN_EVENTS, CLEAN_FINAL).ok
