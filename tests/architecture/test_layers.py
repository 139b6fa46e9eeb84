"""The import graph by folder points one way, and ``core`` stays sans-IO.

Layers, bottom first: ``core`` (domain, effects, flows, models, runtimes, checker) imports
nothing of ours; ``live`` (real Redis, Postgres, provider, HTTP service) and ``sim`` (the SimPy
world) build on ``core``; ``verify`` (the property gate, situations, mutants) on those;
``loadtests`` (Locust, the live audit, benches) on those; ``reports`` renders what they
produce; ``payharness`` is the CLI, which only parses and calls. Every import is counted,
including those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ["core", "live", "sim", "verify", "loadtests", "reports", "payharness"]
RANK = {name: rank for rank, name in enumerate(LAYERS)}

# Third-party libraries that do I/O (network, files in columnar formats, processes of their
# own) or that only make sense at the edge: none may appear in core.
IO_LIBRARIES = {
    "redis",
    "hiredis",
    "psycopg",
    "psycopg_pool",
    "stripe",
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "requests",
    "locust",
    "gevent",
    "pyarrow",
    "pandas",
    "matplotlib",
    "dask",
    "distributed",
    "simpy",
    "socket",
    "subprocess",
    "sqlite3",
    "urllib",
}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", LAYERS)
def test_a_package_imports_only_packages_below_it(package: str) -> None:
    upward = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in _files(package)
        for line, module in _imports(path)
        if (top := module.split(".")[0]) in RANK and RANK[top] > RANK[package]
    ]
    assert not upward, "imports against the layer order:\n" + "\n".join(upward)


def test_core_imports_no_io_library() -> None:
    io = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in _files("core")
        for line, module in _imports(path)
        if module.split(".")[0] in IO_LIBRARIES
    ]
    assert not io, "core must stay sans-IO:\n" + "\n".join(io)


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from payharness.cli import main\n", encoding="utf-8")
    assert _imports(sample) == [(2, "payharness.cli")]
