"""Same design, profile and seed: the same search, whatever was imported, in any process.

Hypothesis draws ~5 % of its integers from a pool of literal constants found in every
imported project module; ``verify.determinism`` pins that pool while the gate runs. These
tests import a module full of literals the gate's draws can use (integers 100-254, the range
of swarm testing's ``p_disabled`` draw) between two runs and demand the same examples-to-kill,
and run one seeded gate in a fresh interpreter and demand what this process found.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import verify
from verify.determinism import pinned_local_constants
from verify.mutants import MUTANTS
from verify.runner import run_gate

MUTANT = "transition-without-cas"
"""Killed after a few hundred examples: a search long enough for the pool to matter (without
the pin, importing the module below moves its kill from example 152 to example 411)."""

LITERALS = "VALUES = (" + ", ".join(str(n) for n in range(100, 255, 3)) + ")\n"


def _examples_to_kill(*, seed: int | None = None) -> tuple[int | None, int]:
    result = run_gate(MUTANTS[MUTANT], profile="ci", shrink=False, seed=seed)
    assert result.failed, result.stats
    return result.stats.first_failure_at, result.stats.examples


@pytest.fixture
def literal_module(tmp_path: Path) -> object:
    (tmp_path / "gate_literals.py").write_text(LITERALS)
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module("gate_literals")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("gate_literals", None)


def test_the_pool_is_empty_while_pinned_and_real_outside(literal_module: object) -> None:
    from hypothesis.internal.conjecture import providers

    assert 103 in providers._get_local_constants().integers  # the imported literals count
    with pinned_local_constants():
        pinned = providers._get_local_constants()
        assert len(pinned) == 0
    assert 103 in providers._get_local_constants().integers  # restored


def test_the_gate_does_not_depend_on_imports(tmp_path: Path) -> None:
    before = _examples_to_kill()
    (tmp_path / "gate_literals_2.py").write_text(LITERALS)
    sys.path.insert(0, str(tmp_path))
    try:
        importlib.import_module("gate_literals_2")
        import live  # noqa: F401  # more project modules with literals
        import sim.runner  # noqa: F401

        after = _examples_to_kill()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("gate_literals_2", None)
    assert after == before


def test_a_seed_gives_the_same_search_in_a_fresh_interpreter() -> None:
    here = _examples_to_kill(seed=3)
    root = Path(verify.__file__).resolve().parent.parent
    code = (
        "import json; from verify.profiles import load_profile; load_profile('ci')\n"
        "from verify.mutants import MUTANTS; from verify.runner import run_gate\n"
        f"r = run_gate(MUTANTS[{MUTANT!r}], profile='ci', shrink=False, seed=3)\n"
        "print(json.dumps([r.stats.first_failure_at, r.stats.examples]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert tuple(json.loads(out.strip().splitlines()[-1])) == here
