"""The gate's Hypothesis budgets: profiles ``dev``, ``ci`` and ``nightly``, and how long a run
may shrink a failure. ``ci`` is the gate itself, so every CI run explores the same examples."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import HealthCheck, settings

CI_EXAMPLES = 400
STEPS = 30

PROFILES: dict[str, settings] = {
    "dev": settings(
        max_examples=30,
        stateful_step_count=STEPS,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    ),
    "ci": settings(
        max_examples=CI_EXAMPLES,
        stateful_step_count=STEPS,
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
    ),
    "nightly": settings(
        max_examples=10 * CI_EXAMPLES,
        stateful_step_count=STEPS,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    ),
}
"""``ci`` is the gate: a fixed budget, derandomized and without an example database so every
run of CI explores the same examples; ``nightly`` is ten times the budget on fresh seeds."""

SHRINK_SECONDS = {"dev": 5.0, "ci": 10.0, "nightly": 60.0}
"""How long one gate run may shrink a failure (Hypothesis' own cap is 300 s)."""


def register_profiles() -> None:
    for name, profile in PROFILES.items():
        settings.register_profile(name, profile)


def load_profile(name: str | None = None) -> str:
    """Register the profiles and load ``name`` (default: ``$HYPOTHESIS_PROFILE`` or ``ci``)."""
    register_profiles()
    chosen = name or os.environ.get("HYPOTHESIS_PROFILE") or "ci"
    settings.load_profile(chosen)
    return chosen


def settings_for(profile: str | None) -> settings:
    """The named profile's settings, or the loaded default when ``profile`` is None."""
    register_profiles()
    if profile is None:
        return settings(settings.default)
    return settings(settings.get_profile(profile))


@contextmanager
def shrink_budget(seconds: float | None) -> Iterator[None]:
    """Cap the time Hypothesis spends shrinking, so the gate's wall time stays bounded.

    Hypothesis has no setting for this; its engine reads ``MAX_SHRINKING_SECONDS`` when
    shrinking starts. If that internal name ever goes away, shrinking is simply uncapped."""
    from hypothesis.internal.conjecture import engine

    before = getattr(engine, "MAX_SHRINKING_SECONDS", None)
    if seconds is None or before is None:
        yield
        return
    report = engine.report  # type: ignore[attr-defined]  # Hypothesis' internal reporter

    def quieter(text: Any) -> None:
        if "working to shrink" not in str(text):  # the cap is ours, not slow progress
            report(text)

    engine.MAX_SHRINKING_SECONDS = seconds  # type: ignore[assignment]
    engine.report = quieter  # type: ignore[attr-defined]
    try:
        yield
    finally:
        engine.MAX_SHRINKING_SECONDS = before
        engine.report = report  # type: ignore[attr-defined]
