"""The README's claims that come from commands stay what those commands print."""

from __future__ import annotations

from pathlib import Path

from payharness.commands.variants import markdown_table

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_variants_table_is_what_payharness_variants_prints() -> None:
    assert markdown_table() in README, (
        "README's variants table is stale: paste `payharness variants`"
    )


def test_quickstart_is_two_commands_and_ci_runs_the_second() -> None:
    block = README.split("## Quickstart", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line for line in block.strip().splitlines() if line.strip()]
    assert len(commands) == 2
    root = Path(__file__).resolve().parents[1]
    ci = (root / ".ci" / "run").read_text(encoding="utf-8")
    assert "python3 -m nox" in ci
    noxfile = (root / "noxfile.py").read_text(encoding="utf-8")  # what `nox` runs in CI
    assert f'README_TEST_COMMAND = "{commands[1]}"' in noxfile
    assert 'nox.options.sessions = ["tests"' in noxfile
