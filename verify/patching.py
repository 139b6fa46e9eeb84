"""Code-level mutants as data: a source edit to one function, applied for one gate run.

A ``SourcePatch`` names a function (or a method, ``Class.method``) in a module and one exact
edit of its source, ``old`` → ``new``; ``old`` must occur exactly once, so a patch that no
longer fits the code fails loudly instead of silently testing nothing. ``applied`` compiles
the edited function in the module's own globals and puts it wherever the original is bound
(the module, and every loaded project module that imported it by name, e.g. ``settle`` in
``core.flows.reconcile``), then restores every binding on exit. Everything is per process, so
a pool of worker processes can each run a different mutant.
"""

from __future__ import annotations
import __future__

import inspect
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import import_module
from typing import Any

PROJECT_PACKAGES = ("core", "live", "sim", "verify", "loadtests", "reports", "payharness")


@dataclass(frozen=True, slots=True)
class SourcePatch:
    """Replace ``old`` by ``new`` (once) in the source of ``module``'s ``function``."""

    module: str
    function: str
    old: str
    new: str

    def build(self) -> tuple[Any, str, Any, Any]:
        """(owner, attribute, original, mutated): where the function lives and both versions."""
        mod = import_module(self.module)
        owner: Any = mod
        *outer, name = self.function.split(".")
        for part in outer:
            owner = getattr(owner, part)
        original = inspect.getattr_static(owner, name)
        func = original.__func__ if isinstance(original, (staticmethod, classmethod)) else original
        source = textwrap.dedent(inspect.getsource(func))
        count = source.count(self.old)
        if count != 1:
            raise ValueError(
                f"patch of {self.module}.{self.function}: {self.old!r} occurs {count} times "
                "in its source (must be exactly once)"
            )
        edited = source.replace(self.old, self.new)
        namespace: dict[str, Any] = {}
        code = compile(
            edited,
            f"<mutant of {self.module}.{self.function}>",
            "exec",
            flags=__future__.annotations.compiler_flag,  # annotations stay strings, as there
            dont_inherit=True,
        )
        exec(code, mod.__dict__, namespace)
        mutated = namespace[name]
        mutated.__qualname__ = func.__qualname__
        mutated.__module__ = func.__module__
        if isinstance(original, staticmethod):
            mutated = staticmethod(mutated)
        elif isinstance(original, classmethod):
            mutated = classmethod(mutated)
        return owner, name, original, mutated


@contextmanager
def applied(patches: tuple[SourcePatch, ...]) -> Iterator[None]:
    """Run the block with every patch in place; every binding is restored afterwards."""
    undo: list[tuple[Any, str, Any]] = []
    try:
        for patch in patches:
            owner, name, original, mutated = patch.build()
            undo.append((owner, name, original))
            setattr(owner, name, mutated)
            if inspect.ismodule(owner):
                for module in _project_modules():
                    if module is not owner and module.__dict__.get(name) is original:
                        undo.append((module, name, original))
                        setattr(module, name, mutated)
        yield
    finally:
        for owner, name, original in reversed(undo):
            setattr(owner, name, original)


def _project_modules() -> list[Any]:
    return [
        m
        for n, m in list(sys.modules.items())
        if m is not None and n.split(".")[0] in PROJECT_PACKAGES
    ]
