"""``payharness variants``: the design variants side by side, with why each choice is made.

The 'why' column is read from the field docstrings in ``core/variants.py``, so the table in
the README is regenerated from the code, never written twice.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import itertools
from dataclasses import fields

from core import variants as variants_module
from core.variants import VARIANTS, Variant


def field_docs() -> dict[str, str]:
    """Attribute docstrings of ``Variant``: the string right after each annotated field."""
    tree = ast.parse(inspect.getsource(variants_module))
    docs: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == Variant.__name__:
            body = node.body
            for here, after in itertools.pairwise(body):
                if (
                    isinstance(here, ast.AnnAssign)
                    and isinstance(here.target, ast.Name)
                    and isinstance(after, ast.Expr)
                    and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)
                ):
                    docs[here.target.id] = " ".join(after.value.value.split())
    return docs


def markdown_table() -> str:
    docs = field_docs()
    names = list(VARIANTS)
    lines = [
        "| policy | " + " | ".join(f"`{n}`" for n in names) + " | why |",
        "| --- | " + " | ".join("---" for _ in names) + " | --- |",
    ]
    for f in fields(Variant):
        if f.name in ("name", "summary"):
            continue
        values = [str(getattr(VARIANTS[n], f.name)) for n in names]
        lines.append(f"| `{f.name}` | " + " | ".join(values) + f" | {docs.get(f.name, '')} |")
    return "\n".join(lines)


def show(_: argparse.Namespace) -> int:
    for v in VARIANTS.values():
        print(f"- `{v.name}`: {v.summary}")
    print()
    print(markdown_table())
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "variants",
        help="print the design variants as a Markdown table",
        description="Print each design variant's summary and a Markdown table of every "
        "policy knob, its value per variant and why (read from the field docstrings in "
        "core/variants.py; the README's table is this output).",
    )
    p.set_defaults(func=show)
