"""How the reports write numbers, the terminal's way: whole numbers from 100 up (with
thousands separators), one decimal below, so a table reads ``1,115`` and ``12.3``, not
``1115.498`` and ``12.345``."""

from __future__ import annotations

from typing import Any


def number(value: Any) -> str:
    """``1,115`` for 1115.498, ``12.3`` for 12.345, ``-`` for None; ints as they are."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def ms(value: float | None) -> str:
    """A latency: ``12.3 ms``, ``1,115 ms``; ``-`` when there is none."""
    return "-" if value is None else f"{number(float(value))} ms"
