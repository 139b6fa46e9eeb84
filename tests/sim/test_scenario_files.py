"""Scenario files: all shipped ones load; broken ones get errors naming file, key and what
is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.scenario import SCENARIO_DIR, ScenarioError, find, load_all, load_file, scenario_files

GOOD = """
description = "a test scenario"
seed = 3
[load]
rate = 5.0
duration_s = 2
[expect.seed]
hold = "all"
[expect.hardened]
hold = "all"
"""


def write(tmp_path: Path, text: str, name: str = "broken.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_at_least_twelve_scenarios_load_with_descriptions_and_expectations() -> None:
    scenarios = load_all()
    assert len(scenarios) >= 12
    kinds = {f.kind for s in scenarios for f in s.faults}
    expected_kinds = {
        "server_crash", "server_stall", "redis_unavailable", "redis_failover",
        "postgres_unavailable", "postgres_commit_failure", "stripe_latency_spike",
        "stripe_5xx", "stripe_lost_reply", "stripe_429", "provider_key_window",
    }  # fmt: skip
    assert expected_kinds <= kinds
    for s in scenarios:
        assert s.description
        assert set(s.expect) == {"seed", "hardened"}
    names = {s.name for s in scenarios}
    assert {"bad_day", "steady_state"} <= names


def test_a_good_file_loads(tmp_path: Path) -> None:
    s = load_file(write(tmp_path, GOOD, "good.toml"))
    assert s.name == "good"
    assert s.load.rate == 5.0
    assert s.topology.servers == 3  # the documented default


@pytest.mark.parametrize(
    ("mutation", "key", "allowed"),
    [
        (("rate = 5.0", 'rate = "fast"'), "load.rate", "a number"),
        (("rate = 5.0", "rate = -1"), "load.rate", "from 0.001"),
        (("[load]", '[load]\narrivals = "weibull"'), "load.arrivals", "'poisson', 'burst', 'ramp'"),
        (("[load]", "[load]\nrat = 4"), "load.rat", "allowed keys: arrivals, rate"),
        (('description = "a test scenario"', ""), "description", "is required"),
        (("[load]", '[[faults]]\nkind = "meteor"\n[load]'), "faults[0].kind", "'server_crash'"),
        (("[load]", "[[faults]]\nat_s = 3\n[load]"), "faults[0].kind", "is required"),
        (
            ("[load]", '[[faults]]\nkind = "server_crash"\nserver = 7\n[load]'),
            "faults[0].server",
            "0 to 2",
        ),
        (
            ("[load]", '[[faults]]\nkind = "stripe_5xx"\ncharged = "yes"\n[load]'),
            "faults[0].charged",
            "true or false",
        ),
        (
            ("[load]", '[[faults]]\nkind = "stripe_5xx"\nprobability = 1.5\n[load]'),
            "faults[0].probability",
            "from 0 to 1",
        ),
        (
            ('[expect.seed]\nhold = "all"', '[expect.seed]\nhold = ["E9"]'),
            "expect.seed.hold",
            "E1, E2, E3, E4, E5, E6, E7, T",
        ),
        (
            ('[expect.seed]\nhold = "all"', '[expect.seed]\nhold = ["E1"]\nbreak = ["E1"]'),
            "expect.seed",
            "both hold and break",
        ),
        (('[expect.seed]\nhold = "all"\n', ""), "expect.seed", "is required"),
        (("[load]", "[expect.mutant]\nhold = []\n[load]"), "expect.mutant", "seed"),
        (("[load]", "[variant]\nlock_ttl_ms = 1.5\n[load]"), "variant.lock_ttl_ms", "a int"),
        (("[load]", "[variant]\nlocks = true\n[load]"), "variant.locks", "lock_ttl_ms"),
        (
            ("[load]", "[topology]\nstripe_p99_ms = 10.0\n[load]"),
            "topology.stripe_p99_ms",
            ">= topology.stripe_median_ms",
        ),
        (("[load]", '[load]\narrivals = "ramp"'), "load.rate_end", "needs rate_end"),
        (("seed = 3", "seed = 3\ncolour = 1"), "colour", "unknown top-level key"),
    ],
)
def test_broken_files_name_file_key_and_what_is_allowed(
    tmp_path: Path, mutation: tuple[str, str], key: str, allowed: str
) -> None:
    old, new = mutation
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ScenarioError) as caught:
        load_file(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert caught.value.key == key, message
    assert allowed in message, message


def test_invalid_toml_and_missing_files(tmp_path: Path) -> None:
    path = write(tmp_path, "description = \n")
    with pytest.raises(ScenarioError, match="not valid TOML") as caught:
        load_file(path)
    assert str(path) in str(caught.value)
    with pytest.raises(ScenarioError, match=r"no such scenario; known: .*steady_state"):
        find("no_such_scenario")


def test_every_shipped_file_is_in_the_scenarios_folder() -> None:
    assert all(p.parent == SCENARIO_DIR for p in scenario_files())
