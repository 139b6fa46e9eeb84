"""The kill test of ``payharness verify --mutate`` (mutmut over core/flows, core/domain.py and
core/models): the gate, at the ``mutate`` budget, and a few simulator scenarios' hardened
expectations and working-payment figures. A mutation of the core is killed when hardened
breaks a property or when the gate can no longer catch seed; both must stay as the gate
expects. The behaviour tests beside it (``test_payments_work.py``, ``test_seed_works.py``),
``tests/core`` (the models' documented semantics) and the situations are in the kill suite
too (``[tool.mutmut]`` in ``pyproject.toml``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import core.flows.payment
from core.variants import HARDENED, SEED
from verify.runner import run_gate

SCENARIOS = ("lost_reply", "server_crash_after_charge", "key_reuse")


def test_the_mutated_copy_is_the_one_imported() -> None:
    """Under mutmut (``MUTANT_UNDER_TEST`` set) the core comes from ``mutants/``, not from the
    editable install, which points at another checkout: else no mutant could be killed."""
    if not os.environ.get("MUTANT_UNDER_TEST"):
        pytest.skip("not running under mutmut")
    assert Path(core.flows.payment.__file__).resolve().parts[-4] == "mutants"


def test_hardened_holds_in_the_gate() -> None:
    result = run_gate(HARDENED, profile="mutate", shrink=False)
    assert not result.failed, result.headline
    assert result.stats.examples > 0


def test_hardened_holds_in_the_gate_on_paypal() -> None:
    """The PayPal model (``core/models/paypal_model.py``) is mutated too: without a run on
    its contract no test reaches it and mutmut reports its mutants as 'no tests'."""
    from core.providers import PAYPAL

    result = run_gate(HARDENED, profile="mutate", shrink=False, provider=PAYPAL)
    assert not result.failed, result.headline


def test_seed_is_still_caught_by_the_gate() -> None:
    assert run_gate(SEED, profile="mutate", shrink=False).failed


@pytest.mark.parametrize("name", SCENARIOS)
def test_hardened_meets_the_scenario(name: str) -> None:
    from sim.runner import run_scenario
    from sim.scenario import find

    summary = run_scenario(find(name), "hardened", record_effects=False, max_traces=1).summary
    assert summary["expectation"]["met"]
    assert all(v == "holds" for v in summary["properties"].values())
    # Payments work, not only exactly-once: most orders are paid, the scenario's few
    # declining cards fail, every order ends paid, failed or given up, and no payment is
    # paid without a successful charge.
    payments, paid, failed = summary["payments"], summary["paid"], summary["failed"]
    assert paid + failed + summary["gave_up"] == payments
    assert paid >= 0.75 * payments
    assert 0 < failed <= 0.05 * payments
    assert paid <= summary["successful_charges"] <= summary["provider_charges"]
