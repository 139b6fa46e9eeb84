"""Kill rates: each seed is its own search, counted without shrinking, and reproducible."""

from __future__ import annotations

import pytest

from core.variants import HARDENED
from verify.kill_rates import kill_rate
from verify.mutants import MUTANTS, Mutant


def test_a_kill_rate_counts_every_seed_and_shrinks_only_the_first_kill() -> None:
    mutant = MUTANTS["amount-in-minor-units-twice"]
    rate = kill_rate(mutant, range(3), profile="dev")
    assert rate.killed == 3 and rate.survived == [] and len(rate.examples) == 3
    assert rate.shown is not None and rate.shown.failed and rate.shown.program_steps >= 1
    again = kill_rate(mutant, range(3), profile="dev", show=False)
    assert again.examples == rate.examples  # same seeds, same searches
    assert again.shown is None


def test_a_design_that_holds_survives_every_seed() -> None:
    holds = Mutant("hardened-itself", HARDENED, "no bug", "nothing")
    rate = kill_rate(holds, [5, 6], profile="dev")
    assert rate.survived == [5, 6] and rate.killed == 0 and not rate.meets_target


def test_the_cli_prints_a_kill_rate_row(capsys: pytest.CaptureFixture[str]) -> None:
    import verify.console as console

    only = {"amount-in-minor-units-twice": MUTANTS["amount-in-minor-units-twice"]}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(console, "MUTANTS", only)
        assert console.verify("dev", mutants=True, seeds=2, quiet=True) == 0
    out = capsys.readouterr().out
    assert "amount-in-minor-units-twice" in out and "2/2" in out
    assert "1/1 mutants killed" in out
