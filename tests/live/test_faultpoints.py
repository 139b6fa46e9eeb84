"""Fault points parse strictly and are inert unless the environment arms them (no services)."""

from __future__ import annotations

import asyncio

import pytest

from core.effects import DbTransaction, ProviderCharge
from core.variants import HARDENED
from live.config import ConfigError, LiveConfig, apply_overrides
from live.faultpoints import Action, FaultPoints, FaultSpecError, parse

CHARGE = ProviderCharge("k", 1999, "usd", "tok_visa", ())


def test_unset_environment_means_no_fault_point_at_all() -> None:
    assert FaultPoints.from_env({}) is None
    assert FaultPoints.from_env({"PAYHARNESS_FAULTS": "  "}) is None


def test_spec_parses_points_actions_and_probabilities() -> None:
    parsed = parse("after_charge=crash, before_commit=pause:250@0.5,after_commit=exit")
    assert parsed == {
        "after_charge": Action("crash"),
        "before_commit": Action("pause", pause_ms=250, probability=0.5),
        "after_commit": Action("exit"),
    }


@pytest.mark.parametrize(
    "spec",
    ["after_chrge=crash", "after_charge", "after_charge=explode", "after_charge=crash@2",
     "before_commit=pause:-1"],
)  # fmt: skip
def test_bad_specs_are_refused_with_a_reason(spec: str) -> None:
    with pytest.raises(FaultSpecError):
        parse(spec)


def test_key_prefix_limits_faults_to_matching_requests() -> None:
    points = FaultPoints(parse("before_commit=pause:0"), key_prefix="crash-")
    assert points.for_request("crash-1") is not None
    assert points.for_request("other") is None


def test_pause_fires_only_at_its_point(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pause asks the event loop for its full length at its point, and nothing at any
    other: what it sleeps is recorded, not timed (the machine's load cannot fail this)."""
    import live.faultpoints as faultpoints

    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(faultpoints.asyncio, "sleep", record)
    points = FaultPoints(parse("before_commit=pause:200"))
    hook = points.for_request("any")
    assert hook is not None

    def pauses(effect: object, when: str) -> list[float]:
        slept.clear()
        asyncio.run(hook("a", effect, when))  # type: ignore[arg-type]
        return list(slept)

    assert pauses(DbTransaction(()), "before") == [0.2]
    assert pauses(DbTransaction(()), "after") == []
    assert pauses(CHARGE, "before") == []


def test_variant_overrides_change_only_named_fields() -> None:
    changed = apply_overrides(HARDENED, "lock_ttl_ms=1500,proceed_without_redis=false")
    assert changed.lock_ttl_ms == 1500 and changed.proceed_without_redis is False
    assert changed.name == "hardened" and changed.lock_wait_attempts == HARDENED.lock_wait_attempts
    with pytest.raises(ConfigError):
        apply_overrides(HARDENED, "no_such_field=1")
    assert LiveConfig(variant="seed").resolve_variant().name == "seed"


def test_config_refuses_a_prefix_that_would_become_a_hash_tag() -> None:
    with pytest.raises(ConfigError):
        LiveConfig(redis_prefix="run{1}:")
