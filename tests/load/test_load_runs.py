"""Load runs end to end: on the in-memory stub (always), and the CI smoke run on the live
stack (one fault kind, under a minute; the build fails when the audit fails)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from loadtests.run import LoadOptions, run_load
from loadtests.settings import USER_KINDS
from loadtests.stack import StackError, free_port, ports_free
from reports.load import build_report


def _responses(run_dir: Path) -> list[dict[str, object]]:
    lines = (run_dir / "history.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    return [r for r in rows if r["kind"] == "response"]


@pytest.mark.slow
def test_a_short_run_on_the_stub_is_audited_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYHARNESS_OUT", str(tmp_path))
    opts = LoadOptions(
        users=6, spawn_rate=6, duration_s=8, pace_s=0.5, stub=True, out_dir=tmp_path,
        run_id="stubrun", settle_timeout_s=10, seed=1, weights=dict.fromkeys(USER_KINDS, 1),
    )  # fmt: skip
    result = run_load(opts, echo=lambda s: None)
    assert result.audit is not None and result.audit.verdict.ok, result.audit.render()
    assert result.exit_code == 0
    run_dir = result.run_dir
    kinds = {str(r["client"]).rsplit("-", 1)[0] for r in _responses(run_dir)}
    assert set(USER_KINDS) | {"settle"} <= kinds
    assert any(r["status"] == 422 for r in _responses(run_dir)), "the key reuser was refused"
    assert (run_dir / "locust_stats.csv").exists()
    assert build_report(run_dir).name == "report.html" and (run_dir / "report.html").exists()
    audited = json.loads((run_dir / "audit.json").read_text())
    assert audited["counts"]["phases"] == 1
    # the snooper read its payments with another merchant's key (the stub has no such route:
    # 404s, counted; on the live stack tests/live/test_merchant_keys.py proves the 404)
    assert audited["cross_merchant_reads"]["reads"] > 0
    assert audited["cross_merchant_reads"]["shown"] == 0


def _consecutive_free(n: int) -> int:
    for _ in range(50):
        base = free_port()
        if base + n < 65000 and ports_free([base + i for i in range(n)]):
            return base
    raise RuntimeError("no free consecutive ports")


@pytest.mark.live
@pytest.mark.slow
def test_smoke_load_with_redis_flushes_passes_the_audit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CI's smoke load: 20 s of mixed users against two live servers while the run's Redis
    keys are flushed every few seconds; the audit must hold (no second charge, nothing lost)."""
    monkeypatch.setenv("PAYHARNESS_OUT", str(tmp_path))
    opts = LoadOptions(
        users=8, spawn_rate=8, duration_s=20, pace_s=0.5, servers=2,
        base_port=_consecutive_free(2), mock_port=free_port(), faults=["redis-flush"],
        fault_every_s=(3.0, 5.0), variant_overrides="stale_after_ms=5000",
        settle_timeout_s=20, out_dir=tmp_path, run_id="smoke", seed=2,
    )  # fmt: skip
    try:
        result = run_load(opts, echo=print)
    except StackError as exc:
        pytest.skip(f"the live stack could not start: {exc}")
    assert result.audit is not None
    assert result.audit.verdict.ok, result.audit.render()
    windows = (result.run_dir / "faults.jsonl").read_text().splitlines()
    assert windows and all(json.loads(w)["kind"] == "redis-flush" for w in windows)
    assert any("deleted" in json.loads(w)["detail"] for w in windows)
    assert result.audit.verdict.counts["successful_charges"] > 20
    assert not (tmp_path / "stack" / "state.json").exists(), "the run took its stack down"
    import redis

    client = redis.Redis.from_url(
        os.environ.get("PAYHARNESS_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    assert not list(client.scan_iter(match="lt:smoke:*", count=1000)), "its Redis keys are gone"
    client.close()
