"""The knee search shared by the simulator's predictions and the live measurements."""

from __future__ import annotations

import pytest

from sim.knee import next_rate, search, steps
from sim.predict import Trial, judge


def _at(knee: float) -> object:
    return lambda r: Trial(r, 100, 100, 1.0, 1.0, r <= knee)


def test_the_search_climbs_then_bisects_to_within_a_few_percent() -> None:
    found = search(_at(137.0), 10, growth=1.3, bisect=5, max_levels=30)  # type: ignore[arg-type]
    assert 130 <= found.rate <= 137 and found.bracketed


def test_the_search_descends_from_a_start_above_the_knee() -> None:
    found = search(_at(37.0), 100, growth=1.25, bisect=2, max_levels=12)  # type: ignore[arg-type]
    assert 32 <= found.rate <= 37 and found.bracketed


def test_a_search_that_never_fails_is_a_lower_bound() -> None:
    found = search(_at(1e9), 10, growth=1.25, max_levels=3)  # type: ignore[arg-type]
    assert found.rate == pytest.approx(15.625) and not found.bracketed


def test_a_failure_is_offered_again_when_asked() -> None:
    seen: list[float] = []

    def flaky(r: float) -> Trial:
        seen.append(r)
        return Trial(r, 1, 1, 1, 1, r <= 20 or seen.count(r) > 1)

    found = search(flaky, 16, growth=1.25, max_levels=3, repeat_failures=True)
    assert seen == [16, 20, 25, 25] and found.rate == 25


def test_a_level_holds_on_its_p99_and_on_what_was_paid() -> None:
    """The p99 is the live bench's (``ramp._quantile``): of 200 latencies the 199th."""
    fast = [10.0] * 199 + [300.0]
    assert judge(5, 200, 200, fast, 250).held
    assert not judge(5, 200, 200, [10.0] * 198 + [300.0] * 2, 250).held
    assert not judge(5, 200, 197, fast[:197], 250).held


def test_one_next_rate_serves_the_ramp_and_the_descending_search() -> None:
    """The live ramp stops when nothing held; bench predict's search goes down instead."""
    failed = [Trial(100, 1, 1, 1, 1, False)]
    assert next_rate(failed, growth=1.25, bisect=2) is None
    assert next_rate(failed, growth=1.25, bisect=2, descend=True) == 80
    # a failure's repeat is offered even when the budget is spent, and not counted in it
    spent = [Trial(16, 1, 1, 1, 1, True), Trial(20, 1, 1, 1, 1, False)]
    assert next_rate(spent, growth=1.25, bisect=2, max_levels=2, repeat_failures=True) == 20
    assert steps([*spent, Trial(20, 1, 1, 1, 1, False)]) == 2


def test_bisections_count_from_the_first_bracket_also_after_a_descent() -> None:
    levels = [Trial(r, 1, 1, 1, 1, r <= 64) for r in (100, 80, 64)]
    assert next_rate(levels, growth=1.25, bisect=1, descend=True) == pytest.approx(71.55, 0.001)
    levels.append(Trial(71.55, 1, 1, 1, 1, True))
    assert next_rate(levels, growth=1.25, bisect=1, descend=True) is None
