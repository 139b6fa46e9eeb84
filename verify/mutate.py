"""``payharness verify --mutate``: mutmut 3 over the core the gate judges, the gate as kill test.

mutmut (configured in ``pyproject.toml``, ``[tool.mutmut]``) copies the project into
``mutants/``, mutates ``core/flows``, ``core/domain.py`` and ``core/models`` and runs
``tests/mutate/test_kill.py`` (the gate at the ``mutate`` budget: hardened must hold and
seed must be caught, plus three simulator scenarios' hardened expectations) against each
mutant. It runs from the repository root so ``mutants/`` shadows any installed copy.

The run is bounded by ``seconds`` (mutmut is interrupted and keeps its results; a second
run resumes where it stopped). The report reads mutmut's result files and sets apart the
survivors reviewed as equivalent in ``verify/equivalent_mutants.json`` (name → reason).
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


def run_mutmut(seconds: float, *, root: Path = ROOT) -> int:
    """Run ``mutmut run`` for at most ``seconds``, streaming its progress; its exit status
    (or -SIGINT when the budget stopped it)."""
    env = {**os.environ, "PYTHONPATH": str(root / "mutants")}
    command = [sys.executable, "-m", "mutmut", "run", "--max-children", "1"]
    process = subprocess.Popen(command, cwd=root, env=env, start_new_session=True)
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


def mutate(seconds: float) -> int:
    """Run mutmut within ``seconds`` and print the report; 0 when >= 90 % of the judged,
    non-equivalent mutants were killed."""
    started = time.perf_counter()
    run_mutmut(seconds)
    found = report()
    print(
        f"\nmutmut over core/flows, core/domain.py, core/models in "
        f"{time.perf_counter() - started:.0f} s: {len(found.killed)} killed, "
        f"{len(found.survived)} survived, {len(found.equivalent)} equivalent (reviewed), "
        + ", ".join(f"{n} {status}" for status, n in sorted(found.other.items()))
    )
    print(f"score: {found.score:.0%} of judged non-equivalent mutants killed (target 90 %)")
    for name in found.survived:
        print(f"  survived: {name}  (python3 -m mutmut show {name})")
    for name, reason in found.equivalent.items():
        print(f"  equivalent: {name}: {reason}")
    return 0 if found.score >= 0.9 else 1
