"""The fixed situations: seed breaks where the issue says, hardened holds in each."""

from __future__ import annotations

import pytest

from core.variants import HARDENED, SEED
from verify.situations import SITUATIONS, run_one, run_situations


@pytest.mark.parametrize("situation", SITUATIONS, ids=[s.name for s in SITUATIONS])
def test_hardened_holds_everywhere(situation) -> None:  # type: ignore[no-untyped-def]
    verdict = run_one(situation, HARDENED)
    assert verdict.ok, verdict.render()


@pytest.mark.parametrize("situation", SITUATIONS, ids=[s.name for s in SITUATIONS])
def test_seed_breaks_what_the_situation_expects(situation) -> None:  # type: ignore[no-untyped-def]
    verdict = run_one(situation, SEED)
    assert verdict.broken() == situation.expect_broken["seed"], verdict.render()


def test_seed_lost_reply_then_new_key_is_an_e2_with_its_trace() -> None:
    situation = next(s for s in SITUATIONS if s.name == "lost-reply-then-new-key")
    verdict = run_one(situation, SEED)
    e2 = [v for v in verdict.violations if v.prop == "E2"]
    assert e2, verdict.render()
    trace = "\n".join(e2[0].trace)
    assert "provider reply lost" in trace
    assert "REQUEST m-1/again-2" in trace
    assert trace.count("PROVIDER CHARGE") == 2
    assert run_one(situation, HARDENED).holds("E2")


def test_main_job_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_situations(None) == 0
    out = capsys.readouterr().out
    assert "all expectations met" in out and "E2 violated" in out
