"""``payharness swarm``: generated scenarios are valid and reproducible from their seed, and
a hardened violation is saved as a file that replays it."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from payharness.cli import main as cli
from sim import swarm as swarm_module
from sim.scenario import parse
from sim.scenario_gen import generate, to_toml
from sim.swarm import SwarmRun, run_generated, scenario_seeds


@pytest.mark.parametrize("seed", range(0, 200, 7))
def test_a_generated_scenario_is_valid_and_its_toml_parses_back_to_it(seed: int) -> None:
    data = generate(seed)
    assert generate(seed) == data  # same seed, same scenario
    assert tomllib.loads(to_toml(data)) == data
    scenario = parse(data, f"gen-{seed}")
    assert scenario.faults and scenario.expect["hardened"].hold


def test_scenarios_differ_between_seeds_and_cover_every_fault_kind() -> None:
    kinds = {f["kind"] for s in range(300) for f in generate(s)["faults"]}
    assert len({json.dumps(generate(s), sort_keys=True) for s in range(50)}) == 50
    from sim.scenario import FaultKind

    assert kinds == {str(k) for k in FaultKind}


def test_a_master_seed_draws_the_same_distinct_scenario_seeds() -> None:
    first = [s for s, _ in zip(scenario_seeds(5), range(100), strict=False)]
    again = [s for s, _ in zip(scenario_seeds(5), range(100), strict=False)]
    assert first == again and len(set(first)) == 100


def test_a_run_that_raises_is_a_crash_finding_not_the_end_of_the_swarm(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(swarm_module, "run_scenario", explode)
    run = run_generated(5, "seed")
    assert run.broken == ("crash",) and "boom" in run.messages[0]


def test_a_generated_run_is_deterministic() -> None:
    assert run_generated(17, "seed") == run_generated(17, "seed")


def test_swarm_saves_a_hardened_violation_with_its_replay_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A hardened violation is forced by judging the seed variant's breaking run as if it
    were hardened's: the report must save the scenario and name the command that replays."""
    real = swarm_module.run_generated

    def hardened_breaks(scenario_seed: int, variant: str) -> SwarmRun:
        run = real(scenario_seed, variant)
        if variant == "hardened":
            return SwarmRun(scenario_seed, variant, ("E5",), ("E5: forced for the test",))
        return run

    monkeypatch.setattr(swarm_module, "run_generated", hardened_breaks)
    monkeypatch.setattr(swarm_module, "ProcessPoolExecutor", _InlinePool)
    code = cli(["swarm", "--minutes", "0.02", "--seed", "3", "--out", str(tmp_path), "--jobs", "1"])
    out = capsys.readouterr().out
    assert code == 1
    assert "HARDENED VIOLATION (E5, hardened)" in out and "replay:   payharness run " in out
    saved = json.loads((tmp_path / "swarm.json").read_text())
    finding = saved["findings"][0]
    assert Path(finding["file"]).exists()
    assert tomllib.loads(Path(finding["file"]).read_text()) == generate(finding["scenario_seed"])
    assert saved["seed_runs"] >= 1 and saved["master_seed"] == 3


def test_swarm_exits_0_when_hardened_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(swarm_module, "ProcessPoolExecutor", _InlinePool)
    code = cli(["swarm", "--minutes", "0.02", "--seed", "4", "--out", str(tmp_path), "--jobs", "1"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "hardened held in every scenario, no run crashed" in out and "the swarm's power" in out


@pytest.mark.parametrize("minutes", ["0", "-1", "abc", "2000"])
def test_a_bad_budget_is_one_line_and_exit_2(
    minutes: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli(["swarm", "--minutes", minutes])
    assert exit_.value.code == 2
    assert "--minutes" in capsys.readouterr().err


class _InlinePool:
    """A ProcessPoolExecutor stand-in that runs each task at submit time, in this process,
    so the test can patch what a worker runs."""

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers

    def __enter__(self) -> _InlinePool:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, fn, *args):  # type: ignore[no-untyped-def]
        from concurrent.futures import Future

        future: Future[object] = Future()
        future.set_result(fn(*args))
        return future
