"""The terminal verdict table of payharness run says what each cell was expected to be."""

from __future__ import annotations

from typing import Any

from reports.sim.verdicts import cell, legend, summary_line, unmet_lines, verdict_table


def _summary(variant: str, props: dict[str, str], hold: list[str], brk: list[str],
             unmet: list[str]) -> dict[str, Any]:  # fmt: skip
    return {
        "scenario": "lost_reply",
        "variant": variant,
        "provider": "stripe",
        "requests": 10,
        "provider_charges": 5,
        "properties": props,
        "latency_ms": {"p50": 1.0, "p99": 2.0},
        "throughput_per_s": 3.0,
        "expectation": {"hold": hold, "break": brk, "met": not unmet, "unmet": unmet},
    }


SEED = _summary("seed", {"E1": "holds", "E2": "BROKEN", "E3": "BROKEN", "E4": "holds"},
                ["E1"], ["E2", "E4"], ["E4 expected to break"])  # fmt: skip
HARD = _summary("hardened", {"E1": "BROKEN", "E2": "holds", "E3": "holds", "E4": "holds"},
                ["E1", "E2"], [], ["E1 expected to hold"])  # fmt: skip


def test_cells_mark_the_expectation() -> None:
    assert cell(SEED, "E2") == "BROKEN(exp)"  # claimed to break, broke
    assert cell(SEED, "E3") == "broken"  # no claim
    assert cell(SEED, "E4") == "ok*"  # claimed to break, held
    assert cell(SEED, "E1") == "ok"
    assert cell(HARD, "E1") == "BROKEN"  # claimed to hold, broke
    assert cell(HARD, "T") == "-"  # not checked


def test_table_legend_and_summary() -> None:
    table = verdict_table([SEED, HARD])
    assert "verdict" in table.splitlines()[0]
    assert table.count("NOT MET") == 2
    text = legend()
    for mark in ("BROKEN(exp)", "ok*", "E7", "T "):
        assert mark in text
    assert unmet_lines([SEED, HARD]) == [
        "NOT MET: lost_reply / seed / stripe: E4 expected to break",
        "NOT MET: lost_reply / hardened / stripe: E1 expected to hold",
    ]
    line = summary_line([SEED, HARD])
    assert line.startswith("0/2 runs met their expectations")
    assert "hardened broke in 1 of 1 runs, 1 NOT MET" in line
