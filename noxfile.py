"""The project's tasks: the tests, lint, types, a quick simulation, a short swarm. ``.ci/run``
calls them all.

Sessions run in the current interpreter (``venv_backend="none"``): CI and a developer have
already installed the project with its extras, and a fresh virtualenv per session would
double CI's install time for nothing.
"""

from __future__ import annotations

import nox

# tests first: its command is the one that installs the project and its tools.
nox.options.sessions = ["tests", "lint", "types", "quick_sim", "swarm"]
nox.options.error_on_missing_interpreters = True

# README.md, Quickstart, second command: the one a user runs, so CI runs exactly it.
README_TEST_COMMAND = "python3 -m pip install -e '.[test]' && python3 -m pytest"


@nox.session(venv_backend="none")
def lint(session: nox.Session) -> None:
    """ruff over the whole tree."""
    session.run("python3", "-m", "ruff", "check", ".")


@nox.session(venv_backend="none")
def types(session: nox.Session) -> None:
    """mypy, strict over every package (pyproject.toml says which)."""
    session.run("python3", "-m", "mypy")


@nox.session(venv_backend="none")
def quick_sim(session: nox.Session) -> None:
    """Two scenarios for both variants: the main job end to end, in seconds."""
    session.run(
        "python3",
        "-m",
        "payharness",
        "run",
        "lost_reply",
        "double_submit",
        "--out",
        "out/nox-quick-sim",
    )


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """The README's test command, as written there."""
    session.run("bash", "-c", README_TEST_COMMAND, external=True)


@nox.session(venv_backend="none")
def swarm(session: nox.Session) -> None:
    """One minute of random scenarios on a fresh master seed, printed first so a red run
    replays (``payharness swarm --minutes 1 --seed S``). Nightly: ``--minutes 60``."""
    session.run("python3", "-m", "payharness", "swarm", "--minutes", "1")
