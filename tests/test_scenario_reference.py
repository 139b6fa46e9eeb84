"""docs/scenarios.md is the reference generated from the scenario schema, kept in sync."""

from __future__ import annotations

from pathlib import Path

from reports.scenario_reference import reference
from sim.scenario import FaultKind, FaultSpec, Load, Topology, schema

DOC = Path(__file__).resolve().parents[1] / "docs" / "scenarios.md"


def test_docs_scenarios_md_is_the_generated_reference() -> None:
    assert DOC.read_text(encoding="utf-8") == reference(), (
        "regenerate: payharness scenarios --reference > docs/scenarios.md"
    )


def test_the_reference_names_every_key_and_fault_kind() -> None:
    text = reference()
    for shape in (Load, Topology, FaultSpec):
        for key in schema(shape):
            assert f"| `{key}` |" in text
    for kind in FaultKind:
        assert f"| `{kind.value}` |" in text
    assert "[expect.<variant>.<provider>]" in text
    assert "break_rate" in text
