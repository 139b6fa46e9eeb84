"""Digests of whole simulated runs, to show a refactoring changed nothing a run does.

``python3 -m sim.history_digest > before.txt``, change the code, run it again and ``diff``:
one line per scenario, variant, provider and seed (the file's and 7) with the SHA-256 of every
history event (effects recorded), the final rows and paid orders, and the metrics; then one
per scenario and variant with the digest of its summary (the checker's verdicts), and one for
the steady bench's world. The summaries alone (``tests/sim/test_determinism.py``) would miss
a change in an event's time, order or detail that no verdict depends on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from core.history import History
from sim.bench import steady_scenario
from sim.engine import simulate
from sim.runner import run_scenario, summary_json
from sim.scenario import find

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def _run_digest(history: History, extra: str) -> str:
    digest = hashlib.sha256()
    for event in history.events:
        digest.update(repr(event.values()).encode())
    digest.update(extra.encode())
    return digest.hexdigest()[:16]


def digests() -> Iterator[str]:
    """The lines ``python3 -m sim.history_digest`` prints, as they are computed."""
    names = sorted(p.stem for p in SCENARIOS.glob("*.toml"))
    for name in names:
        scenario = find(name)
        for variant in ("seed", "hardened"):
            for provider in ("stripe", "paypal"):
                for seed in (scenario.seed, 7):
                    history = History()
                    sim, _wall = simulate(scenario, variant, seed, history=history,
                                          provider=provider)  # fmt: skip
                    final = sim.world.final_state()
                    extra = repr((sorted(map(repr, final.payments)), sorted(final.orders.items()),
                                  sim.metrics))  # fmt: skip
                    yield (f"{name} {variant} {provider} {seed} {len(history.events)} "
                           f"{_run_digest(history, extra)}")  # fmt: skip
    for name in names:
        for variant in ("seed", "hardened"):
            summary = summary_json(run_scenario(find(name), variant).summary)
            yield f"summary {name} {variant} {hashlib.sha256(summary.encode()).hexdigest()[:16]}"
    history = History()
    sim, _wall = simulate(steady_scenario(3_000), "hardened", 1, history=history)
    yield f"steady 3000 {len(history.events)} {_run_digest(history, '')} {sim.env.now}"


if __name__ == "__main__":
    for line in digests():
        print(line, flush=True)
