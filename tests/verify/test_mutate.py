"""``payharness verify --mutate``'s bookkeeping, without running mutmut: the sample a short run
takes, and the report read from mutmut's result files."""

from __future__ import annotations

import json
from pathlib import Path

from verify.mutate import (
    equivalent_mutants,
    forget_stale_test_map,
    kill_suite_digest,
    mutant_names,
    report,
    sample,
    survivors,
    to_run,
)


def test_a_sample_is_spread_over_the_pending_mutants_and_skips_judged_ones() -> None:
    names: dict[str, int | None] = {f"core.a.x_f__mutmut_{i:02d}": None for i in range(10)}
    names["core.a.x_f__mutmut_00"] = 1
    chosen = sample(names, 3)
    assert len(chosen) == 3 and "core.a.x_f__mutmut_00" not in chosen
    assert chosen == sorted(chosen) and chosen[0] != chosen[1]
    assert sample(names, 100) == sorted(n for n, c in names.items() if c is None)


def test_the_report_sets_reviewed_equivalents_apart(tmp_path: Path) -> None:
    meta = tmp_path / "mutants" / "core" / "domain.py.meta"
    meta.parent.mkdir(parents=True)
    codes = {"killed_one": 1, "survivor": 0, "untested": 33, "pending": None}
    meta.write_text(json.dumps({"exit_code_by_key": codes}))
    assert mutant_names(tmp_path) == codes
    found = report(tmp_path)
    assert found.killed == ["killed_one"] and found.survived == ["survivor"]
    assert found.score == 0.5
    assert isinstance(equivalent_mutants(), dict)


def test_every_run_judges_the_unreviewed_survivors_again() -> None:
    names: dict[str, int | None] = {f"core.a.x_f__mutmut_{i:02d}": None for i in range(10)}
    names["core.a.x_f__mutmut_00"] = 0  # survived
    names["core.a.x_f__mutmut_01"] = 1  # killed
    names["core.a.x_f__mutmut_02"] = 33  # no tests
    reviewed = next(iter(equivalent_mutants()))
    names[reviewed] = 0
    again = survivors(names)
    assert again == ["core.a.x_f__mutmut_00", "core.a.x_f__mutmut_02"]
    chosen = to_run(names, 2)
    assert set(again) <= set(chosen) and len(chosen) == 4 and reviewed not in chosen
    assert "core.a.x_f__mutmut_01" not in to_run(names, None)
    assert len(to_run(names, None)) == 9


def test_a_changed_kill_suite_drops_mutmuts_test_map(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.mutmut]\npytest_add_cli_args_test_selection = ["tests/", "extra.py"]\n'
    )
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text("def test_a(): pass\n")
    (tmp_path / "extra.py").write_text("")
    stats = tmp_path / "mutants" / "mutmut-stats.json"
    stats.parent.mkdir()
    stats.write_text("{}")
    assert forget_stale_test_map(tmp_path) and not stats.exists()  # no marker yet
    stats.write_text("{}")
    assert not forget_stale_test_map(tmp_path) and stats.exists()  # unchanged
    before = kill_suite_digest(tmp_path)
    (tmp_path / "tests" / "test_a.py").write_text("def test_a(): assert True\n")
    assert kill_suite_digest(tmp_path) != before
    assert forget_stale_test_map(tmp_path) and not stats.exists()
