"""``[expect.<variant>.<provider>]`` overrides ``[expect.<variant>]`` for that provider."""

from __future__ import annotations

import tomllib

from sim.scenario import parse

TEXT = """
description = "per-provider expectations"
[load]
rate = 5.0
duration_s = 3
[expect.seed]
hold = "all"
[expect.hardened]
hold = "all"
[expect.hardened.paypal]
break = ["E1"]
"""


def test_a_provider_table_overrides_the_variants() -> None:
    scenario = parse(tomllib.loads(TEXT), "x.toml")
    assert scenario.expectation("hardened", "paypal").broken == ("E1",)
    assert scenario.expectation("hardened", "stripe") == scenario.expect["hardened"]
    assert scenario.expectation("seed", "paypal") == scenario.expect["seed"]
