"""Running the gate outside pytest: one run per design, its failure caught and described,
the shrunk program extracted so it can be printed and replayed."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from core.providers import STRIPE, ProviderContract
from core.variants import Variant
from verify.machine import GateFailure, GateStats, machine_for
from verify.profiles import SHRINK_SECONDS, load_profile, settings_for, shrink_budget
from verify.sabotage import sabotaged_machine_for

_RULE_CALL = re.compile(r"^(?:.* = )?state\.(\w+)\(")


@dataclass(slots=True)
class GateResult:
    """One run of the gate on one design."""

    variant: str
    failed: bool
    seconds: float
    stats: GateStats
    message: str = ""
    program: list[str] = field(default_factory=list)
    headline: str = ""

    @property
    def broken(self) -> str:
        """The properties the failure broke, e.g. 'E1, E4' (empty when it held)."""
        match = re.search(r"\(([A-Z0-9, ]+)\)$", self.headline)
        return match.group(1) if match else ""

    @property
    def program_steps(self) -> int:
        """Rules in the shrunk program: no constructor, invariant checks or teardown."""
        calls = (_RULE_CALL.match(line) for line in self.program)
        return sum(1 for m in calls if m and m.group(1) not in ("always", "teardown"))

    @property
    def steps_per_second(self) -> float:
        return self.stats.steps / self.seconds if self.seconds else 0.0


def run_gate(
    variant: Variant,
    *,
    profile: str | None = None,
    sabotage: bool = False,
    shrink: bool = True,
    on_program: Callable[[list[str]], None] | None = None,
    provider: ProviderContract = STRIPE,
) -> GateResult:
    """Run the state machine for ``variant``; a failure is caught and described, not raised.
    ``sabotage`` adds a rule that forges provider charges (``verify.sabotage``)."""
    stats = GateStats()
    make = sabotaged_machine_for if sabotage else machine_for
    machine = make(variant, stats=stats, provider=provider)
    chosen = settings_for(profile)
    if not shrink:
        chosen = settings(chosen, phases=[p for p in chosen.phases if p is not Phase.shrink])
    budget = SHRINK_SECONDS.get(profile or settings.get_current_profile_name())
    started = time.perf_counter()
    try:
        with shrink_budget(budget):
            run_state_machine_as_test(machine, settings=chosen)  # type: ignore[no-untyped-call]
    except AssertionError as exc:
        seconds = time.perf_counter() - started
        notes = list(getattr(exc, "__notes__", []))
        program = [line for chunk in notes for line in chunk.splitlines()]
        if on_program is not None:
            on_program(program)
        headline = exc.headline if isinstance(exc, GateFailure) else str(exc).splitlines()[0]
        return GateResult(variant.name, True, seconds, stats, str(exc), program, headline)
    return GateResult(variant.name, False, time.perf_counter() - started, stats)


def run_gate_isolated(
    variant: Variant, *, profile: str | None = None, provider: ProviderContract = STRIPE
) -> GateResult:
    """``run_gate`` in a fresh interpreter, so nothing earlier tests left behind can steer
    the derandomized search: under pytest, a mutant killed when its test ran alone was
    missed when the whole suite ran first in the same process (cause not yet found)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    chosen = profile or settings.get_current_profile_name()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_run_gate_in_child, variant, chosen, provider).result()


def _run_gate_in_child(
    variant: Variant, profile: str, provider: ProviderContract = STRIPE
) -> GateResult:
    load_profile(profile)
    return run_gate(variant, profile=profile, provider=provider)


def replayable_program(result: GateResult) -> str:
    """The falsifying example as Python: the lines from ``state = ...`` to ``teardown()``."""
    lines = result.program
    start = next((i for i, line in enumerate(lines) if line.startswith("state = ")), None)
    end = next((i for i, line in enumerate(lines) if line.startswith("state.teardown()")), None)
    if start is None or end is None:
        return ""
    return "\n".join(lines[start : end + 1])


def replay(program: str, variant: Variant, provider: ProviderContract = STRIPE) -> None:
    """Run a printed falsifying program again; raises ``GateFailure`` when it still fails."""
    machine = machine_for(variant, provider=provider)
    namespace: dict[str, Any] = {machine.__name__: machine}
    exec(compile(program, "<falsifying example>", "exec"), namespace)
