"""Seed lists as a user writes them: ``100`` (seeds 1 to 100) or ``A-B`` (A to B, inclusive)."""

from __future__ import annotations

MAX_SEEDS = 1_000_000


def parse_seeds(text: str) -> range:
    """The seeds ``text`` names; a ``ValueError`` says what is allowed."""
    allowed = "allowed: N (seeds 1..N) or A-B (seeds A..B), whole numbers, A <= B"
    first, dash, last = text.strip().partition("-")
    try:
        if dash:
            start, stop = int(first), int(last)
        else:
            start, stop = 1, int(first)
    except ValueError:
        raise ValueError(f"seeds {text!r}: {allowed}") from None
    if start < 0 or stop < start or (not dash and stop < 1):
        raise ValueError(f"seeds {text!r}: {allowed}")
    if stop - start + 1 > MAX_SEEDS:
        raise ValueError(f"seeds {text!r}: at most {MAX_SEEDS:,} seeds")
    return range(start, stop + 1)
