"""The gate's Hypothesis budgets: profiles ``dev``, ``ci`` and ``nightly``, and how long a run
may shrink a failure. ``ci`` is the gate itself, so every CI run explores the same examples.

The ``ci`` budget is sized to the gate's allowance on the reference machine (2 shared cores):
the whole gate, hardened, seed and every mutant, in at most 5 minutes, most of it spent on
``hardened`` (the only design whose run goes the whole budget: a caught design stops at its
first failure). Mutants are counted as killed on their first failure and not shrunk in the
gate (``payharness verify --mutants --shrink-mutants`` shrinks them briefly, for display,
``MUTANT_SHRINK_SECONDS``); the designs ``payharness verify`` prints with their program
(seed) shrink for longer (``SHRINK_SECONDS``), long enough to reach a program of 3-4 rules.
``nightly`` is about an hour on fresh seeds."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import HealthCheck, settings

CI_EXAMPLES = 10_000
"""Examples hardened runs per ``ci`` gate (~2 min at ~80-100 examples/s on this machine)."""
NIGHTLY_EXAMPLES = 200_000
"""About 40 min of hardened, then every mutant shrunk to its short program: ~1 h."""
DEV_EXAMPLES = 30
MUTATE_EXAMPLES = 300
"""The gate's budget as mutmut's kill test (``payharness verify --mutate``), once per mutant."""
STEPS = 30

PROFILES: dict[str, settings] = {
    "dev": settings(
        max_examples=DEV_EXAMPLES,
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
        max_examples=NIGHTLY_EXAMPLES,
        stateful_step_count=STEPS,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    ),
}
PROFILES["mutate"] = settings(PROFILES["ci"], max_examples=MUTATE_EXAMPLES)
"""The ci gate at a smaller budget: mutmut runs it once per mutant."""
"""``ci`` is the gate: a fixed budget, derandomized and without an example database so every
run of CI explores the same examples; ``nightly`` is twenty times the budget on fresh seeds."""

SHRINK_SECONDS = {"dev": 5.0, "ci": 30.0, "mutate": 5.0, "nightly": 120.0}
"""How long one gate run may shrink a failure it prints with its program (Hypothesis' own cap
is 300 s). Seed's failure reaches 3-4 rules in 10-25 s on this machine under load."""

MUTANT_SHRINK_SECONDS = {"dev": 1.0, "ci": 2.0, "mutate": 1.0, "nightly": 30.0}
"""How long the gate shrinks a mutant's failure: the kill counts at the first failure, the
program only has to replay (24 failing designs x 30 s would not fit the ``ci`` allowance)."""


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
