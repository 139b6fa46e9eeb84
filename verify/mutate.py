"""``payharness verify --mutate``: mutmut 3 over the core the gate judges, the gate as kill test.

mutmut (configured in ``pyproject.toml``, ``[tool.mutmut]``) copies the project into
``mutants/``, mutates ``core/flows``, ``core/domain.py`` and ``core/models`` and runs the
kill suite against each mutant: ``tests/mutate/`` (the gate at the ``mutate`` budget, where
hardened must hold and seed must be caught; three simulator scenarios' expectations and
payment figures; payments working end to end; the models' documented semantics),
``tests/core`` and the situations, each mutant against the tests that called its function.
It runs from the repository root so ``mutants/`` shadows any installed copy.

The run is bounded by ``seconds`` (mutmut is interrupted and keeps its results; a second
run resumes where it stopped) and optionally by ``max_mutants``: the mutants are generated
first, then an evenly spread sample of that many not yet judged is run by name, so a short
run samples every file rather than the first function. Every run also re-judges the
survivors (and mutants that met no test) not reviewed as equivalent: mutmut keeps a verdict
until its function changes, and the kill suite may have grown since (a full run passes every
pending mutant and every such survivor by name). When the kill suite's files changed since
mutmut mapped its tests to functions, the map is dropped and made again (mutmut itself maps
only new tests). mutmut is started through its own entry point (``mutmut.__main__``), never
``python -m mutmut``, which re-executes its main module in the workers. The report reads
mutmut's result files and sets apart the survivors reviewed as equivalent in
``verify/equivalent_mutants.json`` (name → reason).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT_FILE = Path(__file__).with_name("equivalent_mutants.json")
KILLED = {1, 3, 37}
SURVIVED = {0}


@dataclass(slots=True)
class MutateReport:
    killed: list[str] = field(default_factory=list)
    survived: list[str] = field(default_factory=list)
    equivalent: dict[str, str] = field(default_factory=dict)
    other: Counter[str] = field(default_factory=Counter)

    @property
    def score(self) -> float:
        judged = len(self.killed) + len(self.survived)
        return len(self.killed) / judged if judged else 0.0


def equivalent_mutants() -> dict[str, str]:
    """The reviewed equivalent mutants: mutmut name → why no test can tell it apart."""
    data: dict[str, str] = json.loads(EQUIVALENT_FILE.read_text())
    return data


_MUTMUT = "import sys; from mutmut.__main__ import cli; sys.exit(cli())"
_GENERATE = """
import os
from mutmut.__main__ import (copy_also_copy_files, copy_src_dir, create_mutants,
    set_mutant_under_test, setup_source_paths, store_lines_covered_by_tests)
set_mutant_under_test("mutant_generation")
os.makedirs("mutants", exist_ok=True)
copy_src_dir(); copy_also_copy_files(); setup_source_paths(); store_lines_covered_by_tests()
create_mutants(1)
"""


def _env(root: Path) -> dict[str, str]:
    """mutmut's workers import the mutated copy: ``mutants/`` first on the path, ahead of
    the editable install (which points at another checkout)."""
    return {**os.environ, "PYTHONPATH": str(root / "mutants")}


def kill_suite_digest(root: Path = ROOT) -> str:
    """A digest of the kill suite's files (``pytest_add_cli_args_test_selection``)."""
    import hashlib
    import tomllib

    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["mutmut"]
    digest = hashlib.sha256()
    for entry in config["pytest_add_cli_args_test_selection"]:
        path = root / entry
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(str(file.relative_to(root)).encode() + file.read_bytes())
    return digest.hexdigest()


def forget_stale_test_map(root: Path = ROOT) -> bool:
    """mutmut maps tests to the functions they call once, and afterwards maps only new tests:
    a test changed since would keep its old map. When the kill suite changed since the map
    was made, drop the map (``mutmut-stats.json``) so mutmut makes it again; the verdicts
    stay. Returns whether it was dropped."""
    stats, marker = root / "mutants" / "mutmut-stats.json", root / "mutants" / "kill-suite.sha"
    current = kill_suite_digest(root)
    stale = stats.exists() and (not marker.exists() or marker.read_text() != current)
    if stale:
        stats.unlink()
    if (root / "mutants").is_dir():
        marker.write_text(current)
    return stale


def generate(root: Path = ROOT) -> None:
    """Write ``mutants/`` (the mutated copy and its ``.meta`` files) without running tests."""
    command = [sys.executable, "-c", _GENERATE]
    subprocess.run(command, cwd=root, env=_env(root), check=True, stdout=subprocess.DEVNULL)


def mutant_names(root: Path = ROOT) -> dict[str, int | None]:
    """Every generated mutant's name and its exit code (None: not run yet)."""
    names: dict[str, int | None] = {}
    for meta in sorted((root / "mutants").rglob("*.meta")):
        names.update(json.loads(meta.read_text()).get("exit_code_by_key", {}))
    return names


def sample(names: dict[str, int | None], count: int) -> list[str]:
    """An evenly spread choice of ``count`` mutants not yet judged, in name order."""
    pending = sorted(n for n, code in names.items() if code is None)
    if count >= len(pending):
        return pending
    step = len(pending) / count
    return [pending[int(i * step)] for i in range(count)]


NO_TESTS = 33
"""mutmut's exit code for a mutant whose function no test of the kill suite called."""


def survivors(names: dict[str, int | None]) -> list[str]:
    """Mutants that survived (or met no test) and are not reviewed as equivalent: judged
    again on every run."""
    reviewed = equivalent_mutants()
    again = SURVIVED | {NO_TESTS}
    return sorted(n for n, code in names.items() if code in again and n not in reviewed)


def to_run(names: dict[str, int | None], max_mutants: int | None) -> list[str]:
    """The mutants a run judges: a spread sample of ``max_mutants`` pending ones (all
    pending without a bound) and every unreviewed survivor, in name order."""
    pending = sample(names, max_mutants if max_mutants is not None else len(names))
    return sorted({*pending, *survivors(names)})


def run_mutmut(seconds: float, *, root: Path = ROOT, names: list[str] | None = None) -> int:
    """Run ``mutmut run`` (on ``names`` only, when given) for at most ``seconds``, streaming
    its progress; its exit status (or -SIGINT when the budget stopped it)."""
    command = [sys.executable, "-c", _MUTMUT, "run", "--max-children", "1", *(names or [])]
    process = subprocess.Popen(command, cwd=root, env=_env(root), start_new_session=True)
    try:
        return process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        print(f"\nmutate: time budget of {seconds:.0f} s reached; stopping mutmut", flush=True)
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        return -signal.SIGINT


def report(root: Path = ROOT) -> MutateReport:
    """Killed / survived / equivalent from mutmut's result files under ``mutants/``."""
    from mutmut.stats import status_by_exit_code

    reviewed = equivalent_mutants()
    result = MutateReport()
    for meta in sorted((root / "mutants").rglob("*.meta")):
        data = json.loads(meta.read_text())
        for name, code in sorted(data.get("exit_code_by_key", {}).items()):
            if code in KILLED:
                result.killed.append(name)
            elif code in SURVIVED and name in reviewed:
                result.equivalent[name] = reviewed[name]
            elif code in SURVIVED:
                result.survived.append(name)
            else:
                result.other[status_by_exit_code[code]] += 1
    return result


def mutate(seconds: float, max_mutants: int | None = None) -> int:
    """Run mutmut within ``seconds`` (on at most ``max_mutants`` not yet judged, and the
    unreviewed survivors) and print the report over every mutant judged so far; 0 when
    >= 90 % of the judged, non-equivalent mutants were killed."""
    started = time.perf_counter()
    generate()
    if forget_stale_test_map():
        print("mutate: the kill suite changed since mutmut mapped tests to functions; remapping")
    every = mutant_names()
    names = to_run(every, max_mutants)
    again = len(survivors(every))
    print(
        f"mutate: {len(every)} mutants; this run judges {len(names) - again} not yet judged "
        f"and {again} earlier survivors"
    )
    if names:
        run_mutmut(seconds, names=names)
    else:
        print("mutate: every mutant is judged already")
    found = report()
    total = len(mutant_names())
    judged = len(found.killed) + len(found.survived) + len(found.equivalent)
    print(
        f"\nmutmut over core/flows, core/domain.py, core/models in "
        f"{time.perf_counter() - started:.0f} s ({judged} of {total} mutants judged so far): "
        f"{len(found.killed)} killed, "
        f"{len(found.survived)} survived, {len(found.equivalent)} equivalent (reviewed)"
        + "".join(f", {n} {status}" for status, n in sorted(found.other.items()))
    )
    print(f"score: {found.score:.0%} of judged non-equivalent mutants killed (target 90 %)")
    for name in found.survived:
        print(f"  survived: {name}  (python3 -m mutmut show {name})")
    for name, reason in found.equivalent.items():
        print(f"  equivalent: {name}: {reason}")
    return 0 if found.score >= 0.9 else 1
