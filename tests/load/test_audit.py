"""The live audit on hand-made histories: what it accepts, what it refuses, what it fences."""

from __future__ import annotations

import json
from pathlib import Path

from core.domain import Payment, PaymentRequest, PaymentState, fingerprint
from core.history import Event, FinalState, ListedCharge
from loadtests.audit import audit, fence
from loadtests.history import ProcessHistory, merge_histories
from loadtests.wire import parse_answer, request_record, response_record

RUN = "ltrun1"
M = f"{RUN}-m0"


def req(key: str, order: str = "o1", amount: int = 1999) -> PaymentRequest:
    return PaymentRequest(M, order, amount, "usd", "tok_visa", key)


def body(status: str, pid: str, charge: str, order: str = "o1", amount: int = 1999) -> str:
    return json.dumps(
        {
            "status": status,
            "code": "x",
            "payment": {"id": pid, "merchant": M, "order": order, "amount": amount,
                        "currency": "usd", "charge": charge},
        }
    )  # fmt: skip


def exchange(
    events: list[Event], t: int, attempt: str, request: PaymentRequest, status: int, text: str
) -> None:
    events.append(request_record(t, attempt, "c", request, "http://s1"))
    answer, payment = parse_answer(status, {}, text, 1.0)
    events.append(response_record(t + 1, attempt, "c", request, answer, payment))


def row(pid: str, key: str, charge: str | None, state: PaymentState, order: str = "o1") -> Payment:
    request = req(key, order)
    return Payment(pid, M, order, key, 1999, "usd", "tok_visa", fingerprint(request),
                   f"{M}:{key}", state, 0, charge)  # fmt: skip


def charge(cid: str, key: str, order: str = "o1", merchant: str = M) -> ListedCharge:
    # The mock lists the card it charged, not the client's token.
    return ListedCharge(cid, 1999, "usd", True, merchant, key, order, source="card_abc")


def write(tmp: Path, events: list[Event]) -> Path:
    hist = ProcessHistory(tmp, 0, tag="t")
    for e in events:
        hist.record(e)
    hist.close()
    return merge_histories(tmp)


def test_a_clean_run_passes_and_card_ids_do_not_count_as_another_payload(tmp_path: Path) -> None:
    events: list[Event] = []
    exchange(events, 0, "a1", req("k1"), 201, body("paid", "p1", "ch1"))
    exchange(events, 5, "a2", req("k1"), 201, body("paid", "p1", "ch1"))
    final = FinalState(
        payments=(row("p1", "k1", "ch1", PaymentState.COMPLETED),),
        orders={(M, "o1"): "p1"},
        charges=(charge("ch1", "k1"),),
    )
    result = audit(write(tmp_path, events), final, RUN)
    assert result.verdict.ok, result.render()
    saved = json.loads((tmp_path / "audit.json").read_text())
    assert saved["ok"] and saved["summary"]["E1"] == "holds"
    assert "PASS" in (tmp_path / "audit.txt").read_text()


def test_two_charges_for_one_key_break_e1_with_a_trace(tmp_path: Path) -> None:
    events: list[Event] = []
    exchange(events, 0, "a1", req("k1"), 201, body("paid", "p1", "ch1"))
    final = FinalState(
        payments=(row("p1", "k1", "ch1", PaymentState.COMPLETED),),
        orders={(M, "o1"): "p1"},
        charges=(charge("ch1", "k1"), charge("ch2", "k1")),
    )
    result = audit(write(tmp_path, events), final, RUN)
    assert not result.verdict.ok
    assert {"E1", "E2", "E3"} <= result.verdict.broken()
    e1 = next(v for v in result.verdict.violations if v.prop == "E1")
    assert any("REQUEST" in line and "k1" in line for line in e1.trace)
    assert "FAIL" in result.render()


def test_a_reused_key_that_gets_paid_breaks_e6(tmp_path: Path) -> None:
    events: list[Event] = []
    exchange(events, 0, "a1", req("k1"), 201, body("paid", "p1", "ch1"))
    other = req("k1", amount=2500)
    exchange(events, 5, "a2", other, 201, body("paid", "p1", "ch1"))
    final = FinalState(
        payments=(row("p1", "k1", "ch1", PaymentState.COMPLETED),),
        orders={(M, "o1"): "p1"},
        charges=(charge("ch1", "k1"),),
    )
    result = audit(write(tmp_path, events), final, RUN)
    assert result.verdict.broken() == {"E6"}


def test_a_payment_left_pending_breaks_e5_only_when_eventual(tmp_path: Path) -> None:
    events: list[Event] = []
    exchange(events, 0, "a1", req("k1"), 202, '{"status":"pending","code":"x"}')
    final = FinalState(
        payments=(row("p1", "k1", None, PaymentState.RECONCILE),), orders={}, charges=()
    )
    history = write(tmp_path, events)
    assert audit(history, final, RUN).verdict.broken() == {"E5"}
    assert audit(history, final, RUN, eventual=False).verdict.ok


def test_a_settle_retry_that_is_not_final_breaks_e5(tmp_path: Path) -> None:
    events: list[Event] = []
    exchange(events, 0, "a1", req("k1"), 201, body("paid", "p1", "ch1"))
    events.append(Event(t=10, kind="phase", detail="settle"))
    exchange(events, 11, "s1", req("k1"), 409, '{"status":"in_flight","code":"x"}')
    final = FinalState(
        payments=(row("p1", "k1", "ch1", PaymentState.COMPLETED),),
        orders={(M, "o1"): "p1"},
        charges=(charge("ch1", "k1"),),
    )
    assert audit(write(tmp_path, events), final, RUN).verdict.broken() == {"E5"}


def test_the_fence_keeps_only_the_runs_merchants() -> None:
    final = FinalState(
        payments=(row("p1", "k1", "ch1", PaymentState.COMPLETED),),
        orders={(M, "o1"): "p1", ("other-m0", "o1"): "p9"},
        charges=(charge("ch1", "k1"), charge("ch9", "k1", merchant="other-m0"),
                 charge("ch8", "k1", merchant="other-m0")),
    )  # fmt: skip
    fenced = fence(final, RUN)
    assert [c.id for c in fenced.charges] == ["ch1"]
    assert list(fenced.orders) == [(M, "o1")]


def test_merge_orders_events_of_several_processes_by_time(tmp_path: Path) -> None:
    a = ProcessHistory(tmp_path, 0, tag="a")
    b = ProcessHistory(tmp_path, 0, tag="b")
    for t in (1, 5, 9):
        a.record(Event(t=t, kind="note", detail=f"a{t}"))
    for t in (2, 3, 10):
        b.record(Event(t=t, kind="note", detail=f"b{t}"))
    a.close()
    b.close()
    merged = merge_histories(tmp_path)
    ts = [json.loads(line)["t"] for line in merged.read_text().splitlines()]
    assert ts == [1, 2, 3, 5, 9, 10]


def test_a_cross_merchant_read_answered_200_is_an_e4_violation(tmp_path: Path) -> None:
    """The snoopers' reads (``reads-*.jsonl``): 404 is right, a 200 showed another merchant's
    payment (E4); reads of other runs' merchants are fenced out."""
    from loadtests.history import ReadLog, load_reads

    hist = ProcessHistory(tmp_path, 0)
    hist.close()
    log = ReadLog(tmp_path, 0)
    log.record("snooper-1", f"{RUN}-m1", M, "pay_1", "http://s1", 404)
    log.record("snooper-1", f"{RUN}-m1", M, "pay_1", "http://s2", 200)
    log.record("snooper-2", "other-m1", "other-m0", "pay_9", "http://s1", 200)
    log.close()
    reads = load_reads(tmp_path)
    assert len(reads) == 3
    empty = FinalState(payments=(), orders={}, charges=())
    result = audit(merge_histories(tmp_path), empty, RUN, reads=reads)
    assert not result.verdict.ok and result.verdict.holds("E4") is False
    assert result.extra["cross_merchant_reads"] == {
        "reads": 2, "shown": 1, "statuses": {"404": 1, "200": 1},
    }  # fmt: skip
    assert "pay_1" in result.render()
    good = [r for r in reads if r["status"] != 200]
    assert audit(merge_histories(tmp_path), empty, RUN, reads=good).verdict.ok
