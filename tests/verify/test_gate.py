"""The property gate: hardened holds, seed and every mutant of hardened are caught.

Each run uses the loaded Hypothesis profile (``ci`` unless ``HYPOTHESIS_PROFILE`` says
otherwise; see ``conftest.py``). A caught design must come with a shrunk, replayable program
that fails again when replayed, and the checker's trace of what went wrong.
"""

from __future__ import annotations

import pytest

from core.variants import HARDENED, SEED, VARIANTS, variant_named
from verify.machine import GateFailure, machine_for
from verify.mutants import EQUIVALENT, MUTANTS, mutant_named
from verify.runner import GateResult, replay, replayable_program, run_gate, run_mutant
from verify.sabotage import sabotaged_machine_for


def _caught(result: GateResult) -> str:
    """Assert the gate failed with a replayable program that fails again; return it."""
    assert result.failed, (
        f"{result.variant} was not caught in {result.stats.examples} examples "
        f"({result.stats.steps} steps)"
    )
    program = replayable_program(result)
    assert program.startswith("state = "), result.program
    assert program.rstrip().endswith("state.teardown()")
    with pytest.raises(GateFailure):
        replay(program, variant_or_mutant(result.variant))
    return program


def variant_or_mutant(name: str):  # type: ignore[no-untyped-def]
    if name.startswith("mutant:"):
        return mutant_named(name.removeprefix("mutant:"))  # its variant and its code edits
    return variant_named(name)


def test_hardened_holds_under_every_interleaving_and_fault() -> None:
    result = run_gate(HARDENED)
    assert not result.failed, result.message
    assert result.stats.examples > 0 and result.stats.checks > 0


def test_seed_is_caught_with_a_replayable_program(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_gate(SEED)
    program = _caught(result)
    assert "violated" in result.message and "REQUEST" in result.message
    with capsys.disabled():
        print(f"\nseed caught: {result.message.splitlines()[0]}\n{program}")


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_every_mutant_is_killed(name: str) -> None:
    """Killed at the first failure, as the gate counts it: the failing example is replayed
    as found, unshrunk (shrinking 24 mutants would cost the gate's budget nothing it needs)."""
    result = run_mutant(MUTANTS[name], shrink=False)
    _caught(result)
    assert result.program_steps >= 1


def test_mutants_are_not_user_facing() -> None:
    for mutant in [*MUTANTS.values(), *EQUIVALENT.values()]:
        assert mutant.variant.name not in VARIANTS
        with pytest.raises(ValueError, match="unknown variant"):
            variant_named(mutant.variant.name)
        with pytest.raises(ValueError, match="unknown variant"):
            variant_named(mutant.name)
        assert mutant.bug and mutant.mirrors
    assert len(MUTANTS) >= 10


def test_a_broken_history_yields_a_readable_minimal_example() -> None:
    """A forged double charge, fed to the checker through the machine, shrinks to a
    two-rule program whose message names the property and tells the story."""
    result = run_gate(HARDENED, sabotage=True)
    program = replayable_program(result)
    assert result.failed
    assert "E1 violated" in result.message
    assert "charged 2 times" in result.message
    assert "PROVIDER CHARGE" in result.message
    assert result.program_steps <= 2, program
    assert "forge_charges" in program
    assert any("behind the gateway's back" in line for line in result.program)
    with pytest.raises(GateFailure, match="E1"):
        machine = sabotaged_machine_for(HARDENED)
        namespace = {machine.__name__: machine}
        exec(compile(program, "<minimal example>", "exec"), namespace)


def test_the_machine_reads_like_the_world() -> None:
    """Replaying a hand-written program: a lost reply on hardened is reconciled, not lost."""
    machine = machine_for(HARDENED)()
    key = machine.new_key(merchant="m1", order="o1", source="tok_visa")
    (flow,) = machine.send(key=key, until="ProviderCharge (reply)")
    machine.lose_provider_reply()
    machine.always()
    machine.advance(flow=flow, effects=4)
    machine.always()
    assert machine.stepper.finished[flow].outcome == "pending"
    machine.teardown()
    rows = list(machine.world.postgres.payments.values())
    assert [r.state.value for r in rows] == ["COMPLETED"]
    assert len(machine.world.stripe.charges) == 1


def test_verify_bench_prints_steps_per_second(capsys: pytest.CaptureFixture[str]) -> None:
    from payharness.cli import main

    assert main(["verify", "--bench", "--profile", "dev"]) == 0
    out = capsys.readouterr().out
    assert "steps/s" in out and "hardened" in out
    with capsys.disabled():
        print("\n" + out.strip())


def test_the_request_deadline_assumption_is_needed() -> None:
    """Why the gate abandons in-flight flows on clock jumps of an hour or more: a server
    that inserts PENDING and then stalls for 23 h (past hardened's 22 h re-ask window)
    charges after the reconciler looked the charge up, found none and failed the row, so
    its client is told 'failed' for a charge that succeeded. If hardened ever fences this,
    this test fails and ``REQUEST_DEADLINE_MS`` can go."""
    machine = machine_for(HARDENED)()
    key = machine.new_key(merchant="m1", order="o1", source="tok_visa")
    (flow,) = machine.send(key=key, until="PaymentInsert")  # cache, lock, clock read
    machine.advance(flow=flow, effects=1)  # the PENDING insert
    assert machine.stepper.flows[flow].pending_name == "ProviderCharge"
    machine.world.clock.advance(23 * 3_600_000)  # the server stalls; no deadline kills it
    machine.reconcile()
    machine.always()
    machine.resume(flow=flow, until="done")
    with pytest.raises(GateFailure, match="told 'failed' but charge"):
        machine.always()


def test_provider_faults_hit_the_next_charge_or_lookup_and_heal_when_settling() -> None:
    """A 409 on a request's charge answers 'in flight' and leaves the PENDING row; a lost
    lookup reply leaves it to the next pass; a fault still armed when the world settles is
    healed, so the retry gets the final answer."""
    machine = machine_for(HARDENED)()
    key = machine.new_key(merchant="m1:k", order="o1", source="tok_visa", key="k:1",
                          amount=99_999_999, currency="kwd", metadata={"ключ": "a:b"})  # fmt: skip
    machine.provider_fault(fault="charge: 409 in flight")
    machine.send(key=key, until="done")
    machine.always()
    (answer,) = machine.stepper.finished.values()
    assert (answer.status, answer.outcome) == (409, "in_flight")
    machine.advance_clock(ms=61_000)
    machine.provider_fault(fault="charge: 500 after executing")
    machine.reconcile()  # re-asks with the key: executed, but the reply is a 500
    machine.always()
    assert len(machine.world.stripe.charges) == 1
    machine.provider_fault(fault="lookup: reply lost")
    machine.provider_fault(fault="charge: unavailable")
    machine.teardown()
    rows = list(machine.world.postgres.payments.values())
    assert [r.state.value for r in rows] == ["COMPLETED"]
    assert machine.stepper.faults is None
    last = machine.stepper.finished[max(machine.stepper.finished)]
    assert (last.status, last.outcome, last.amount, last.currency) == (
        201,
        "paid",
        99_999_999,
        "kwd",
    )
