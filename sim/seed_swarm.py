"""Scenarios x variants over many seeds: a verdict is a count, not one seed's anecdote.

Each (scenario, variant, seed) is simulated and judged in memory (no history file, no
report), and only what the verdict needs comes back from the worker: which properties broke
and the first violation of each. ``Tally`` adds the runs of one scenario and variant up and
judges the scenario's claims over all of them (``Expectation.unmet``); every refuted claim
names the seed that replays it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.checker import PROPERTIES
from sim.runner import run_scenario
from sim.scenario import SCENARIO_DIR, Expectation, Scenario, load_file

SEEDS_PER_TASK = 10
"""Seeds one worker task simulates: enough to hide the pool's per-task cost (a run takes
about 0.2 s), few enough that progress moves."""


@dataclass(frozen=True, slots=True)
class SeedRun:
    """One judged run, reduced to what a swarm's verdict needs."""

    scenario: str
    variant: str
    provider: str
    seed: int
    broken: tuple[str, ...]
    first_violation: Mapping[str, str]
    """Per broken property, its first violation's message."""


def run_seeds(
    scenario_file: str,
    variant: str,
    provider: str,
    seeds: Sequence[int],
    params: Mapping[str, Any] | None,
) -> list[SeedRun]:
    """Simulate and judge one scenario file for one variant and provider at each seed (a
    worker task)."""
    scenario = load_file(scenario_file)
    if params:
        scenario = scenario.with_params(params)
    runs: list[SeedRun] = []
    for seed in seeds:
        result = run_scenario(
            scenario, variant, seed, record_effects=False, max_traces=0, provider=provider
        )
        first: dict[str, str] = {}
        for violation in result.verdict.violations:
            first.setdefault(violation.prop, violation.message)
        broken = tuple(p for p in PROPERTIES if result.verdict.holds(p) is False)
        for prop in broken:
            first.setdefault(prop, "broken (no violation detail kept)")
        runs.append(SeedRun(scenario.name, variant, provider, seed, broken, first))
    return runs


def scenario_ref(scenario: Scenario) -> str:
    """How a command line names the scenario: its name when it ships in ``scenarios/``,
    else its file's path."""
    path = Path(scenario.file).resolve()
    return scenario.name if path.parent == SCENARIO_DIR.resolve() else str(scenario.file)


def replay_command(scenario: Scenario, variant: str, seed: int, provider: str = "stripe") -> str:
    """The one line that replays a run exactly (the simulator is deterministic per seed)."""
    return (
        f"payharness run {scenario_ref(scenario)} --variant {variant} "
        f"--provider {provider} --seed {seed}"
    )


@dataclass(slots=True)
class Tally:
    """The runs of one scenario and variant, added up per property."""

    scenario: Scenario
    variant: str
    provider: str = "stripe"
    runs: int = 0
    broken: dict[str, int] = field(default_factory=dict)
    first_seed: dict[str, int] = field(default_factory=dict)
    first_message: dict[str, str] = field(default_factory=dict)

    @property
    def expectation(self) -> Expectation:
        return self.scenario.expectation(self.variant, self.provider)

    def add(self, run: SeedRun) -> None:
        self.runs += 1
        for prop in run.broken:
            self.broken[prop] = self.broken.get(prop, 0) + 1
            if prop not in self.first_seed or run.seed < self.first_seed[prop]:
                self.first_seed[prop] = run.seed
                self.first_message[prop] = run.first_violation.get(prop, "")

    def unmet(self) -> list[str]:
        return self.expectation.unmet(self.broken, self.runs)

    @property
    def met(self) -> bool:
        return not self.unmet()

    def cell(self, prop: str) -> str:
        """``holds 100/100`` or ``breaks 37/100 (first: seed 3)``."""
        n = self.broken.get(prop, 0)
        if n == 0:
            return f"holds {self.runs}/{self.runs}"
        return f"breaks {n}/{self.runs} (first: seed {self.first_seed[prop]})"

    def refutations(self) -> Iterator[tuple[str, str]]:
        """(what was claimed, how to see it) for every claim the runs refuted."""
        for prop in self.expectation.hold:
            if prop in self.first_seed:
                seed = self.first_seed[prop]
                yield (
                    f"{prop} expected to hold, {self.cell(prop)}: {self.first_message[prop]}",
                    replay_command(self.scenario, self.variant, seed, self.provider),
                )
        for problem in self.unmet():
            if "expected to break" in problem:
                prop = problem.split()[0]
                yield (f"{problem}, {self.cell(prop)}", "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario.name,
            "variant": self.variant,
            "provider": self.provider,
            "runs": self.runs,
            "broken": dict(sorted(self.broken.items())),
            "first_seed": dict(sorted(self.first_seed.items())),
            "first_message": dict(sorted(self.first_message.items())),
            "expect": {
                "hold": list(self.expectation.hold),
                "break": list(self.expectation.broken),
                "break_rate": self.expectation.break_rate,
            },
            "unmet": self.unmet(),
        }


Progress = Callable[[int], None]
"""Told how many more runs finished."""


def run_seed_swarm(
    tasks: Sequence[tuple[Scenario, str, str]],
    seeds: Sequence[int],
    *,
    jobs: int,
    dask_address: str | None = None,
    params: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> list[Tally]:
    """Every (scenario, variant, provider) of ``tasks`` at every seed, on a process pool of
    ``jobs`` workers or on the Dask cluster at ``dask_address``; tallies in ``tasks`` order."""
    tallies = {(s.name, v, p): Tally(s, v, p) for s, v, p in tasks}
    chunks = [
        (scenario.file, variant, provider, list(seeds[i : i + SEEDS_PER_TASK]))
        for scenario, variant, provider in tasks
        for i in range(0, len(seeds), SEEDS_PER_TASK)
    ]

    def take(runs: list[SeedRun]) -> None:
        for run in runs:
            tallies[(run.scenario, run.variant, run.provider)].add(run)
        if progress is not None:
            progress(len(runs))

    if dask_address is not None:
        _on_dask(dask_address, chunks, params, take)
    elif jobs <= 1:
        for file, variant, provider, chunk in chunks:
            take(run_seeds(file, variant, provider, chunk, params))
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(run_seeds, f, v, p, c, params) for f, v, p, c in chunks]
            for future in as_completed(futures):
                take(future.result())
    return list(tallies.values())


def _on_dask(
    address: str,
    chunks: list[tuple[str, str, str, list[int]]],
    params: Mapping[str, Any] | None,
    take: Callable[[list[SeedRun]], None],
) -> None:
    from distributed import Client
    from distributed import as_completed as dask_completed

    with Client(address) as client:  # type: ignore[no-untyped-call]
        futures = [
            client.submit(run_seeds, f, v, p, c, params, pure=False) for f, v, p, c in chunks
        ]
        for future in dask_completed(futures):  # type: ignore[no-untyped-call]
            take(future.result())
