"""``payharness swarm``: random scenarios x both variants for a time budget (VOPR-style).

A master seed draws one scenario seed after another; each scenario seed generates one
scenario (``sim.scenario_gen``) and is also the seed it is simulated with, so a scenario seed
alone replays a run. Workers regenerate the scenario from its seed (nothing but two integers
crosses the process boundary). Every hardened violation is saved as a scenario file with its
minimal trace and the command that replays it; how often ``seed`` breaks each property is
the swarm's power: a swarm that never catches the seed design proves nothing about hardened.
"""

from __future__ import annotations

import random
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.checker import PROPERTIES
from core.providers import MAIN_PROVIDERS
from sim.runner import run_scenario
from sim.scenario import Scenario, parse
from sim.scenario_gen import generate, to_toml

VARIANTS = ("seed", "hardened")
SEED_SPACE = 2**31
"""Scenario seeds are drawn below this: short to type in a replay command."""


def provider_of(scenario_seed: int) -> str:
    """The provider a generated scenario runs against: the main providers in turn, so a
    swarm covers each provider's contract about equally."""
    return MAIN_PROVIDERS[scenario_seed % len(MAIN_PROVIDERS)]


@dataclass(frozen=True, slots=True)
class SwarmRun:
    scenario_seed: int
    variant: str
    broken: tuple[str, ...]
    messages: tuple[str, ...]


def generated(scenario_seed: int, file: str = "") -> Scenario:
    """The scenario a seed generates, parsed and validated like a file."""
    return parse(generate(scenario_seed), file or f"generated scenario {scenario_seed}")


CRASH = "crash"
"""What a run that raised counts as broken: a harness failure, reported like a violation."""


def run_generated(scenario_seed: int, variant: str) -> SwarmRun:
    """Generate, simulate and judge one scenario for one variant (a worker task). A run that
    raises is returned as broken by ``CRASH``, so one bad run does not end the swarm."""
    try:
        result = run_scenario(
            generated(scenario_seed),
            variant,
            scenario_seed,
            record_effects=False,
            max_traces=1,
            provider=provider_of(scenario_seed),
        )
    except Exception as exc:  # a crash is a finding, not the end of the swarm
        return SwarmRun(scenario_seed, variant, (CRASH,), (f"{CRASH}: {exc!r}",))
    broken = tuple(p for p in PROPERTIES if result.verdict.holds(p) is False)
    messages = tuple(f"{v.prop}: {v.message}" for v in result.verdict.violations)
    return SwarmRun(scenario_seed, variant, broken, messages)


@dataclass(slots=True)
class Finding:
    """A hardened violation: where its scenario was saved and how to replay it."""

    scenario_seed: int
    variant: str
    broken: tuple[str, ...]
    file: Path
    replay: str
    trace: str


@dataclass(slots=True)
class SwarmReport:
    master_seed: int
    scenarios: int = 0
    runs: int = 0
    seed_broken: dict[str, int] = field(default_factory=dict)
    """Per property, how many generated scenarios the seed variant broke it in."""
    seed_runs: int = 0
    findings: list[Finding] = field(default_factory=list)
    wall_s: float = 0.0

    def power(self) -> dict[str, float]:
        return {p: self.seed_broken.get(p, 0) / max(1, self.seed_runs) for p in PROPERTIES}

    def to_dict(self) -> dict[str, Any]:
        return {
            "master_seed": self.master_seed,
            "scenarios": self.scenarios,
            "runs": self.runs,
            "seed_runs": self.seed_runs,
            "seed_broken": dict(sorted(self.seed_broken.items())),
            "findings": [
                {
                    "scenario_seed": f.scenario_seed,
                    "variant": f.variant,
                    "broken": list(f.broken),
                    "file": str(f.file),
                    "replay": f.replay,
                }
                for f in self.findings
            ],
            "wall_s": round(self.wall_s, 1),
        }


def scenario_seeds(master_seed: int) -> Iterator[int]:
    """The scenario seeds a master seed draws, in order (distinct)."""
    rng = random.Random(master_seed)
    seen: set[int] = set()
    while True:
        seed = rng.randrange(1, SEED_SPACE)
        if seed not in seen:
            seen.add(seed)
            yield seed


def swarm(
    minutes: float,
    out_dir: Path,
    master_seed: int,
    *,
    jobs: int,
    progress: Callable[[SwarmReport], None] | None = None,
) -> SwarmReport:
    """Run generated scenarios for ``minutes``; every hardened violation saved in ``out_dir``."""
    report = SwarmReport(master_seed)
    deadline = time.monotonic() + minutes * 60
    started = time.monotonic()
    seeds = scenario_seeds(master_seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        pending: set[Future[SwarmRun]] = set()
        while True:
            while time.monotonic() < deadline and len(pending) < 4 * max(1, jobs):
                scenario_seed = next(seeds)
                report.scenarios += 1
                pending |= {pool.submit(run_generated, scenario_seed, v) for v in VARIANTS}
            if not pending:
                break
            done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            for future in done:
                _take(report, future.result(), out_dir)
            if progress is not None:
                progress(report)
    report.wall_s = time.monotonic() - started
    return report


def _take(report: SwarmReport, run: SwarmRun, out_dir: Path) -> None:
    report.runs += 1
    if CRASH in run.broken or (run.variant == "hardened" and run.broken):
        report.findings.append(_finding(run, out_dir))
    elif run.variant == "seed":
        report.seed_runs += 1
        for prop in run.broken:
            report.seed_broken[prop] = report.seed_broken.get(prop, 0) + 1


def _finding(run: SwarmRun, out_dir: Path) -> Finding:
    """Save the scenario, rerun it with effects recorded for the minimal trace (or the
    traceback of a crash)."""
    kind = "crash" if CRASH in run.broken else "hardened-violation"
    file = out_dir / f"{kind}-{run.variant}-{run.scenario_seed}.toml"
    file.write_text(to_toml(generate(run.scenario_seed)), encoding="utf-8")
    try:
        result = run_scenario(
            generated(run.scenario_seed, str(file)),
            run.variant,
            run.scenario_seed,
            provider=provider_of(run.scenario_seed),
        )
        trace = result.verdict.render()
    except Exception:
        trace = traceback.format_exc()
    (file.with_suffix(".trace.txt")).write_text(trace + "\n", encoding="utf-8")
    replay = (
        f"payharness run {file} --variant {run.variant} "
        f"--provider {provider_of(run.scenario_seed)} --seed {run.scenario_seed}"
    )
    return Finding(run.scenario_seed, run.variant, run.broken, file, replay, trace)
