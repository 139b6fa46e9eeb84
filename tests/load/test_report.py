"""The load report on a small synthetic run: frames, the knee, fault windows, HTML, rebuild."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from core.domain import PaymentRequest
from core.history import Event, FinalState
from loadtests.audit import audit
from loadtests.history import ProcessHistory, merge_histories
from loadtests.settings import LoadSettings
from loadtests.shapes import phases, plan
from loadtests.wire import parse_answer, request_record, response_record
from payharness.cli import main as cli
from reports.load import build_report
from reports.load.frames import attempts, knee, read_events, segments, timeseries

# Step plan: 5, 10, 15, 20 users, 10 s each. Latency grows with load; p99 crosses the SLO
# (250 ms) only at 20 users, so the knee is the 15-user step.
LATENCY_MS = {5: 20, 10: 60, 15: 140, 20: 600}


def synthetic_run(run_dir: Path) -> LoadSettings:
    settings = LoadSettings(
        run_id="synthetic", targets=("http://s1", "http://s2"), history_dir=str(run_dir),
        t0_ms=0, shape="step", users=20, step_users=5, step_s=10.0, duration_s=40.0,
        pace_s=1.0,
    )  # fmt: skip
    settings.save(run_dir / "settings.json")
    rng = random.Random(7)
    hist = ProcessHistory(run_dir, 0, tag="synthetic")
    n = 0
    for second in range(40):
        tick = plan(settings, second)
        assert tick is not None
        users = tick[0]
        for _ in range(users):
            n += 1
            t = second * 1000 + rng.randrange(0, 900)
            latency = LATENCY_MS[users] * rng.uniform(0.8, 1.1)
            request = PaymentRequest(settings.merchant(0), f"o{n}", 1000, "usd", "tok_x", f"k{n}")
            hist.record(request_record(t, f"a{n}", f"payer-{n % 7}", request, "http://s1"))
            status, text = (402, '{"status":"failed","code":"card_declined"}')
            if n % 50 == 0:
                status, text = 503, '{"status":"error","code":"backend_unavailable"}'
            answer, payment = parse_answer(status, {}, text, latency)
            hist.record(
                response_record(t + int(latency), f"a{n}", "payer", request, answer, payment)
            )
    hist.close()
    with open(run_dir / "faults.jsonl", "w") as handle:
        handle.write(json.dumps({"kind": "kill", "start_ms": 12_000, "end_ms": 14_500,
                                 "detail": "SIGKILL pid 1"}) + "\n")  # fmt: skip
        handle.write(json.dumps({"kind": "redis-flush", "start_ms": 25_000, "end_ms": 25_200,
                                 "detail": "deleted 10 keys"}) + "\n")  # fmt: skip
    history = merge_histories(run_dir)
    audit(history, FinalState(payments=(), orders={}, charges=()), settings.merchant_prefix)
    return settings


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    synthetic_run(tmp_path)
    return tmp_path


def test_the_knee_is_the_highest_throughput_under_the_slo(run_dir: Path) -> None:
    settings = LoadSettings.load(str(run_dir / "settings.json"))
    att = attempts(read_events(run_dir))
    seg = segments(att, settings)
    assert list(seg["users"]) == [5, 10, 15, 20]
    assert seg["p99"].iloc[-1] > 250 > seg["p99"].iloc[-2]
    found = knee(seg, 250.0)
    assert found is not None and found.users == 15
    assert 13 < found.throughput_rps < 17
    assert knee(seg, 10.0) is None


def test_time_series_counts_every_answer(run_dir: Path) -> None:
    att = attempts(read_events(run_dir))
    ts = timeseries(att)
    assert ts["rps"].sum() == len(att) == sum(u * 10 for u in (5, 10, 15, 20))
    assert ts["errors_ps"].sum() == (att["outcome"] == "error").sum() > 0


def test_the_report_shows_verdicts_fault_windows_and_the_knee(run_dir: Path) -> None:
    out = build_report(run_dir)
    md = (run_dir / "report.md").read_text()
    assert "Exactly-once audit: **PASS**" in md
    assert "| kill |" in md and "| redis-flush |" in md
    assert "Knee (highest throughput with p99 under 250 ms)" in md and "at 15 users" in md
    for png in ("time.png", "knee.png", "status.png"):
        assert (run_dir / png).stat().st_size > 1000
    page = out.read_text()
    assert page.count("data:image/png;base64,") == 3 and "src='time.png'" not in page
    summary = json.loads((run_dir / "report.json").read_text())
    assert summary["knee"]["users"] == 15


def test_payharness_report_rebuilds_from_the_folder(run_dir: Path) -> None:
    (run_dir / "report.md").unlink(missing_ok=True)
    assert cli(["report", str(run_dir)]) == 0
    assert (run_dir / "report.md").exists() and (run_dir / "report.html").exists()
    assert cli(["report", str(run_dir / "nope")]) == 2


def test_the_plans_of_the_shapes() -> None:
    s = LoadSettings(run_id="x", targets=("a",), history_dir=".", users=20, duration_s=50.0)
    assert plan(s, 0) == (20, 5.0) and plan(s, 50) is None
    spike = s.with_(shape="spike")
    assert plan(spike, 1)[0] == 4 and plan(spike, 25)[0] == 20 and plan(spike, 40)[0] == 4  # type: ignore[index]
    step = s.with_(shape="step", step_users=4, step_s=10.0)
    assert [u for _, _, u in phases(step)] == [4, 8, 12, 16, 20]


def test_a_run_without_events_still_reports(tmp_path: Path) -> None:
    LoadSettings(run_id="empty", targets=("a",), history_dir=str(tmp_path)).save(
        tmp_path / "settings.json"
    )
    (tmp_path / "history.jsonl").write_text(
        json.dumps(Event(t=0, kind="phase", detail="settle").to_dict()) + "\n"
    )
    build_report(tmp_path)
    assert "No live faults" in (tmp_path / "report.md").read_text()
