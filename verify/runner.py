"""Running the gate outside pytest: one run per design, its failure caught and described,
the shrunk program extracted so it can be printed and replayed."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import Phase, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.stateful import get_state_machine_test

from core.providers import STRIPE, ProviderContract
from core.variants import Variant
from verify.determinism import pinned_local_constants
from verify.machine import GateFailure, GateStats, machine_for
from verify.mutants import Mutant
from verify.profiles import MUTANT_SHRINK_SECONDS, SHRINK_SECONDS, settings_for, shrink_budget
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


Design = Variant | Mutant
"""What the gate runs on: a variant, or a mutant of hardened (its variant and code edits)."""


def run_gate(
    design: Design,
    *,
    profile: str | None = None,
    sabotage: bool = False,
    shrink: bool = True,
    seed: int | None = None,
    shrink_seconds: float | None = None,
    on_program: Callable[[list[str]], None] | None = None,
    provider: ProviderContract = STRIPE,
    examples: int | None = None,
) -> GateResult:
    """Run the state machine for ``design``; a failure is caught and described, not raised.
    ``sabotage`` adds a rule that forges provider charges (``verify.sabotage``). ``seed``
    runs the profile's budget from that seed instead (derandomize off, no example database),
    which is how kill rates sample the search. ``shrink_seconds`` caps shrinking (default:
    the profile's ``SHRINK_SECONDS``). ``examples`` replaces the profile's example budget
    (a smaller, explicit budget for a test that repeats the gate on another provider).

    Same design, profile and seed: same examples, in this process or any other, whatever
    was imported before (``verify.determinism``)."""
    mutant = design if isinstance(design, Mutant) else None
    variant = design.variant if isinstance(design, Mutant) else design
    stats = GateStats()
    make = sabotaged_machine_for if sabotage else machine_for
    machine = make(variant, stats=stats, provider=provider)
    chosen = settings_for(profile)
    if not shrink:
        chosen = settings(chosen, phases=[p for p in chosen.phases if p is not Phase.shrink])
    if seed is not None:
        chosen = settings(chosen, derandomize=False, database=None)
    if examples is not None:
        chosen = settings(chosen, max_examples=examples)
    named = profile or settings.get_current_profile_name()
    budget = shrink_seconds if shrink_seconds is not None else SHRINK_SECONDS.get(named)
    test = get_state_machine_test(machine, settings=chosen)  # type: ignore[no-untyped-call]
    if seed is not None:
        test = hypothesis_seed(seed)(test)
    started = time.perf_counter()
    try:
        with pinned_local_constants(), shrink_budget(budget):
            if mutant is None:
                test()
            else:
                with mutant.applied():
                    test()
    except AssertionError as exc:
        seconds = time.perf_counter() - started
        notes = list(getattr(exc, "__notes__", []))
        program = [line for chunk in notes for line in chunk.splitlines()]
        if on_program is not None:
            on_program(program)
        headline = exc.headline if isinstance(exc, GateFailure) else str(exc).splitlines()[0]
        return GateResult(variant.name, True, seconds, stats, str(exc), program, headline)
    return GateResult(variant.name, False, time.perf_counter() - started, stats)


def run_mutant(
    mutant: Mutant,
    *,
    profile: str | None = None,
    seed: int | None = None,
    shrink: bool = True,
) -> GateResult:
    """The gate on one mutant: killed at its first failure, then shrunk for the mutant
    budget, or not at all when ``shrink`` is off (the program is then the failing example
    as found: still replayable, only longer)."""
    named = profile or settings.get_current_profile_name()
    budget = MUTANT_SHRINK_SECONDS.get(named)
    return run_gate(mutant, profile=profile, seed=seed, shrink=shrink, shrink_seconds=budget)


def replayable_program(result: GateResult) -> str:
    """The falsifying example as Python: the lines from ``state = ...`` to ``teardown()``."""
    lines = result.program
    start = next((i for i, line in enumerate(lines) if line.startswith("state = ")), None)
    end = next((i for i, line in enumerate(lines) if line.startswith("state.teardown()")), None)
    if start is None or end is None:
        return ""
    return "\n".join(lines[start : end + 1])


def replay(program: str, design: Design, provider: ProviderContract = STRIPE) -> None:
    """Run a printed falsifying program again; raises ``GateFailure`` when it still fails."""
    variant = design.variant if isinstance(design, Mutant) else design
    machine = machine_for(variant, provider=provider)
    namespace: dict[str, Any] = {machine.__name__: machine}
    code = compile(program, "<falsifying example>", "exec")
    if isinstance(design, Mutant):
        with design.applied():
            exec(code, namespace)
    else:
        exec(code, namespace)
