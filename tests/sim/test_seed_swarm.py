"""Seed swarms: claims judged over many seeds, counts per property, a replay line per failure."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from payharness.cli import main as cli
from sim.runner import run_scenario
from sim.scenario import Expectation, find, load_file
from sim.seed_swarm import replay_command, run_seed_swarm
from sim.seeds import parse_seeds


@pytest.mark.parametrize(
    ("text", "seeds"), [("3", range(1, 4)), ("5-7", range(5, 8)), ("0-0", range(0, 1))]
)
def test_seeds_are_a_count_or_a_range(text: str, seeds: range) -> None:
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["", "abc", "0", "-3", "7-5", "1-x", "1.5"])
def test_a_bad_seed_list_says_what_is_allowed(text: str) -> None:
    with pytest.raises(ValueError, match="allowed: N"):
        parse_seeds(text)


def test_hold_is_refuted_by_one_seed_and_break_needs_one_or_its_rate() -> None:
    claims = Expectation(hold=("E1",), broken=("E2",))
    assert claims.unmet({"E2": 1}, 100) == []
    assert claims.unmet({"E1": 1, "E2": 1}, 100) == ["E1 expected to hold"]
    assert claims.unmet({}, 100) == ["E2 expected to break"]
    rated = Expectation(broken=("E2",), break_rate=0.5)
    assert rated.unmet({"E2": 50}, 100) == []
    assert rated.unmet({"E2": 49}, 100) == ["E2 expected to break under 50% of seeds"]


def test_a_swarm_counts_breaks_per_property_and_its_first_seed_replays() -> None:
    scenario = find("lost_reply")
    (seed_tally, hardened_tally) = run_seed_swarm(
        [(scenario, "seed", "stripe"), (scenario, "hardened", "stripe")], range(1, 4), jobs=1
    )
    assert seed_tally.runs == hardened_tally.runs == 3
    assert hardened_tally.broken == {} and hardened_tally.met
    assert seed_tally.broken["E3"] == 3 and seed_tally.first_seed["E3"] == 1
    assert seed_tally.cell("E3") == "breaks 3/3 (first: seed 1)"
    assert seed_tally.cell("E1") == "holds 3/3"
    replayed = run_scenario(scenario, "seed", seed_tally.first_seed["E3"], max_traces=1)
    assert replayed.verdict.holds("E3") is False


def _claims_seed_holds_everything(tmp_path: Path) -> Path:
    """lost_reply with the claim that seed holds everything (it breaks E2-E4 at every seed)."""
    path = tmp_path / "too_hopeful.toml"
    body = Path(find("lost_reply").file).read_text(encoding="utf-8")
    body = body.split("[expect.seed]", 1)[0] + '[expect.seed]\nhold = "all"\n\n'
    body += '[expect.hardened]\nhold = "all"\n'
    path.write_text(body, encoding="utf-8")
    return path


def test_run_seeds_exits_1_and_prints_the_line_that_replays_a_refuted_claim(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = _claims_seed_holds_everything(tmp_path)
    out_dir = tmp_path / "out"
    argv = ["run", str(scenario), "--seeds", "2", "--jobs", "1", "--out", str(out_dir)]
    code = cli([*argv, "--provider", "stripe"])
    out = capsys.readouterr().out
    assert code == 1
    replays = [line.split("replay: ", 1)[1] for line in out.splitlines() if "replay: " in line]
    assert replays, out
    assert "NOT MET" in out and "breaks 2/2 (first: seed 1)" in out
    argv = shlex.split(replays[0])
    assert argv[:2] == ["payharness", "run"]
    seed = int(argv[argv.index("--seed") + 1])
    replayed = run_scenario(
        load_file(argv[2]),
        argv[argv.index("--variant") + 1],
        seed,
        provider=argv[argv.index("--provider") + 1],
    )
    assert not replayed.met
    saved = json.loads((out_dir / "seeds.json").read_text())
    assert saved["seeds"] == [1, 2]
    assert saved["tallies"][0]["unmet"]


def test_run_seeds_exits_0_when_every_claim_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli(["run", "key_reuse", "--seeds", "2", "--jobs", "1", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "4/4 scenario x variant x provider claims held over 8 runs (all met)" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "key_reuse", "--seeds", "abc"],
        ["run", "key_reuse", "--seeds", "9-2"],
        ["run", "key_reuse", "--dask", "tcp://127.0.0.1:1"],
    ],
)
def test_bad_seed_arguments_are_one_line_and_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error:" in err[0] and "Traceback" not in err[0]


def test_the_replay_command_names_a_shipped_scenario_by_name() -> None:
    assert replay_command(find("bad_day"), "hardened", 11, "paypal") == (
        "payharness run bad_day --variant hardened --provider paypal --seed 11"
    )
