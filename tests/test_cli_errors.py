"""Bad arguments to any subcommand: one line of error on stderr, exit status 2, no traceback,
and no work done first.

Two shapes are allowed. argparse's own errors (unknown option, bad choice, a number out of
range) print its usage block and one ``payharness ...: error: ...`` line. The commands' own
checks (``payharness.usage.UsageError``) print exactly one line. Every case here fails
validation before any service is contacted or any simulation runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

import payharness.commands.run as run_command
import payharness.commands.sweep as sweep_command
from payharness.cli import build_parser, main
from sim import capacity_plan
from sim.scenario import find

ROOT = Path(__file__).resolve().parents[1]

ARGPARSE = "argparse"
USAGE = "usage"


def _cases(tmp: Path) -> list[tuple[str, list[str], str]]:
    """(id, argv, which kind of error): ``tmp/file`` exists as a file."""
    file = str(tmp / "file")
    return [
        ("top: unknown command", ["nosuch"], ARGPARSE),
        ("top: unknown option", ["--nosuch"], ARGPARSE),
        ("run: --out is a file", ["run", "lost_reply", "--out", file], USAGE),
        ("run: --out under a file", ["run", "lost_reply", "--out", f"{file}/sub"], USAGE),
        ("run: unknown scenario", ["run", "nosuch"], USAGE),
        ("run: unknown scenario.toml", ["run", "nosuch.toml"], USAGE),
        ("run: bad --variant", ["run", "lost_reply", "--variant", "nosuch"], ARGPARSE),
        ("run: bad --provider", ["run", "lost_reply", "--provider", "nosuch"], ARGPARSE),
        ("run: --jobs 0", ["run", "lost_reply", "--jobs", "0"], ARGPARSE),
        ("run: --traces -1", ["run", "lost_reply", "--traces", "-1"], ARGPARSE),
        ("run: --seed abc", ["run", "lost_reply", "--seed", "abc"], ARGPARSE),
        ("run: --seeds abc", ["run", "lost_reply", "--seeds", "abc"], USAGE),
        (
            "run: --seeds with --out a file",
            ["run", "lost_reply", "--seeds", "2", "--out", file],
            USAGE,
        ),
        ("run: --dask without --seeds", ["run", "lost_reply", "--dask", "x:1"], USAGE),
        ("run: --seed and --seeds", ["run", "--seed", "1", "--seeds", "2"], ARGPARSE),
        ("swarm: no --minutes", ["swarm"], ARGPARSE),
        ("swarm: --minutes 0", ["swarm", "--minutes", "0"], ARGPARSE),
        ("swarm: --out is a file", ["swarm", "--minutes", "1", "--out", file], USAGE),
        ("swarm: --jobs 0", ["swarm", "--minutes", "1", "--jobs", "0"], ARGPARSE),
        ("situations: bad --variant", ["situations", "--variant", "nosuch"], ARGPARSE),
        ("variants: unknown option", ["variants", "--nosuch"], ARGPARSE),
        ("scenarios: unknown option", ["scenarios", "--nosuch"], ARGPARSE),
        ("sweep: no --param", ["sweep", "lost_reply"], ARGPARSE),
        ("sweep: --param rate=abc", ["sweep", "lost_reply", "--param", "rate=abc"], USAGE),
        ("sweep: --param rate=-5,10", ["sweep", "lost_reply", "--param", "rate=-5,10"], USAGE),
        ("sweep: --param nosuch=1", ["sweep", "lost_reply", "--param", "nosuch=1"], USAGE),
        ("sweep: --param rate", ["sweep", "lost_reply", "--param", "rate"], USAGE),
        (
            "sweep: --param twice",
            ["sweep", "lost_reply", "--param", "rate=1", "--param", "rate=2"],
            USAGE,
        ),
        (
            "sweep: --param dotted bad",
            ["sweep", "lost_reply", "--param", "topology.servers=abc"],
            USAGE,
        ),
        (
            "sweep: --out is a file",
            ["sweep", "lost_reply", "--param", "rate=5", "--out", file],
            USAGE,
        ),
        ("sweep: unknown scenario", ["sweep", "nosuch", "--param", "rate=5"], USAGE),
        (
            "sweep: bad --variant",
            ["sweep", "lost_reply", "--param", "rate=5", "--variant", "x"],
            ARGPARSE,
        ),
        ("bench: no subcommand", ["bench"], ARGPARSE),
        ("bench sim: unknown scenario", ["bench", "sim", "--scenario", "nosuch"], USAGE),
        ("bench sim: --payments 0", ["bench", "sim", "--payments", "0"], ARGPARSE),
        ("bench sim: bad --variant", ["bench", "sim", "--variant", "nosuch"], ARGPARSE),
        ("bench predict: bad --servers", ["bench", "predict", "--servers", "0,2"], USAGE),
        ("bench predict: bad --variants", ["bench", "predict", "--variants", "x"], USAGE),
        ("calibrate: not a run folder", ["calibrate", str(tmp)], USAGE),
        ("calibrate: no folder", ["calibrate"], ARGPARSE),
        ("verify: bad --profile", ["verify", "--profile", "nosuch"], ARGPARSE),
        ("verify: bad --variant", ["verify", "--variant", "nosuch"], ARGPARSE),
        ("verify: --seeds 0", ["verify", "--mutants", "--seeds", "0"], ARGPARSE),
        ("verify: --seeds without --mutants", ["verify", "--seeds", "3"], USAGE),
        ("verify: --equivalent without --mutants", ["verify", "--equivalent"], USAGE),
        ("db: no subcommand", ["db"], ARGPARSE),
        ("db: unknown subcommand", ["db", "nosuch"], ARGPARSE),
        ("stack: no subcommand", ["stack"], ARGPARSE),
        ("stack up: --servers 0", ["stack", "up", "--servers", "0"], ARGPARSE),
        ("stack up: --base-port 70000", ["stack", "up", "--base-port", "70000"], ARGPARSE),
        ("stack up: bad --variant", ["stack", "up", "--variant", "nosuch"], USAGE),
        ("merchants: revoke without KEY_ID", ["merchants", "revoke"], ARGPARSE),
        ("merchants: unknown subcommand", ["merchants", "nosuch"], ARGPARSE),
        ("reconcile: --every 0", ["reconcile", "--every", "0"], ARGPARSE),
        ("reconcile: --once and --every", ["reconcile", "--once", "--every", "5"], ARGPARSE),
        ("reconcile: bad --variant", ["reconcile", "--variant", "nosuch"], USAGE),
        ("load: --users 0", ["load", "--users", "0"], ARGPARSE),
        ("load: bad --shape", ["load", "--shape", "nosuch"], ARGPARSE),
        ("load: bad --duration", ["load", "--duration", "abc"], ARGPARSE),
        ("load: bad --faults", ["load", "--faults", "nosuch"], USAGE),
        ("load: bad --fault-every", ["load", "--fault-every", "abc"], USAGE),
        ("load: bad --weights", ["load", "--weights", "nosuch=1"], USAGE),
        ("load: bad --variant", ["load", "--variant", "nosuch"], USAGE),
        ("report: not a run folder", ["report", str(tmp)], USAGE),
        ("report: no folder", ["report"], ARGPARSE),
        ("serve: --port 0", ["serve", "--port", "0"], ARGPARSE),
        ("serve: bad --variant", ["serve", "--variant", "nosuch"], USAGE),
        ("capacity: bad --servers", ["capacity", "--servers", "4,x"], USAGE),
        ("capacity: --servers 0", ["capacity", "--servers", "0,4"], USAGE),
        ("capacity: bad --paths", ["capacity", "--paths", "new,nosuch"], USAGE),
        ("capacity: no --calibration file", ["capacity", "--calibration", f"{file}.x"], USAGE),
        ("capacity: not a calibration", ["capacity", "--calibration", file], USAGE),
        ("capacity: --live not a run folder", ["capacity", "--live", str(tmp)], USAGE),
        ("capacity: --out is a file", ["capacity", "--out", file], USAGE),
        ("capacity: --redis-shards 0", ["capacity", "--redis-shards", "0"], ARGPARSE),
        ("capacity: --slo-ms 0", ["capacity", "--slo-ms", "0"], ARGPARSE),
    ]


CASE_IDS = [c[0] for c in _cases(Path("/tmp"))]


@pytest.fixture()
def tmp(tmp_path: Path) -> Path:
    (tmp_path / "file").write_text("not a folder\n")
    return tmp_path


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's errors
        return int(exc.code or 0)


def _check_stderr(err: str, kind: str) -> str:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("payharness") and ": error: " in line]
    assert len(errors) == 1, err
    if kind == USAGE:
        assert lines == errors, err  # the one line, nothing else
    else:
        # argparse's usage block (its first line 'usage: ...', continuation lines indented)
        usage = [line for line in lines if line not in errors]
        assert usage and usage[0].startswith("usage: "), err
        assert all(line.startswith(" ") for line in usage[1:]), err
    return errors[0]


@pytest.mark.parametrize("case", CASE_IDS)
def test_bad_arguments_give_one_error_line_and_exit_2(
    case: str, tmp: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (argv, kind) = next((a, k) for i, a, k in _cases(tmp) if i == case)

    def no_work(*_args: object, **_kwargs: object) -> object:
        raise AssertionError("work started before the arguments were checked")

    monkeypatch.setattr(run_command, "_execute", no_work)
    monkeypatch.setattr(sweep_command, "run_sweep", no_work)
    monkeypatch.setattr(capacity_plan, "run_plan", no_work)
    monkeypatch.setenv("PAYHARNESS_OUT", str(tmp / "out"))
    code = _run(argv)
    captured = capsys.readouterr()
    assert code == 2, captured
    _check_stderr(captured.err, kind)


def test_every_subcommand_has_a_bad_argument_case() -> None:
    parser = build_parser()
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    covered = {argv[0] for _id, argv, _kind in _cases(Path("/tmp"))}
    assert set(sub.choices) <= covered


def test_the_errors_name_what_was_wrong(tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The line names the option the bad value came from, not a file it did not come from."""
    expected = {
        ("sweep", "--param", "rate=-5,10"): "--param rate=-5: load.rate",
        ("sweep", "--param", "rate=abc"): "--param rate=abc: not a number",
        ("run", "--out", "file"): "exists and is not a folder",
        ("run", "--out", "file/sub"): "a parent of it is a file",
    }
    for (command, option, value), text in expected.items():
        if option == "--out":
            value = str(tmp / value)
        assert _run([command, "lost_reply", option, value]) == 2
        line = _check_stderr(capsys.readouterr().err, USAGE)
        assert text in line
        assert "scenarios/lost_reply.toml" not in line


def test_an_unwritable_out_folder_is_refused_before_work(
    tmp: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checked by permission bits, which root ignores: simulate what a user would see."""
    import payharness.usage as usage

    monkeypatch.setattr(run_command, "_execute", lambda *a, **k: pytest.fail("work started"))
    monkeypatch.setattr(usage.os, "access", lambda *_a: False)
    assert _run(["run", "lost_reply", "--out", str(tmp / "ro")]) == 2
    assert "not writable" in _check_stderr(capsys.readouterr().err, USAGE)

    def refuse(self: Path, *_a: object, **_k: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    assert _run(["run", "lost_reply", "--out", str(tmp / "missing" / "out")]) == 2
    assert "Permission denied" in _check_stderr(capsys.readouterr().err, USAGE)


def test_a_process_prints_one_line_and_exits_2(tmp: Path) -> None:
    """The real entry point, end to end, for the case the issue reported as a traceback."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "payharness", "run", "lost_reply", "--out", str(tmp / "file")],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"payharness run: error: --out {tmp / 'file'}: exists and is not a folder"
    ]


def test_help_texts_have_no_rest_literals() -> None:
    parser = build_parser()
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    parsers = [parser, *sub.choices.values()]
    for p in list(parsers):
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers += action.choices.values()
    for p in parsers:
        assert "``" not in p.format_help(), p.prog


def test_a_scenario_name_may_carry_its_suffix() -> None:
    assert find("lost_reply.toml").name == "lost_reply"
    assert find("lost_reply.toml").file == find("lost_reply").file
