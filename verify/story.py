"""The story a gate run tells: one comment line per action of the world, kept valid Python so
the falsifying program Hypothesis prints (notes interleaved with the steps) still replays."""

from __future__ import annotations

from hypothesis import note as hypothesis_note
from hypothesis.control import currently_in_test_context

from core.variants import HOUR_MS


def note(text: str) -> None:
    """One line of the story, as a comment: a Hypothesis note inside a test, printed in a
    replay."""
    if currently_in_test_context():
        hypothesis_note(f"# {text}")
    else:
        print(f"# {text}")


def duration(ms: int) -> str:
    """A span of simulated time as a reader says it: '46 s', '25 h', '150 ms'."""
    if ms >= HOUR_MS:
        return f"{ms / HOUR_MS:g} h"
    if ms >= 1000:
        return f"{ms / 1000:g} s"
    return f"{ms} ms"
