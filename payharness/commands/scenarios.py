"""``payharness scenarios``: the scenario files, one line each; ``--reference`` prints the
scenario file reference (every section and key) generated from the schema."""

from __future__ import annotations

import argparse

from payharness.usage import UsageError, scenario_problem


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "scenarios",
        help="list the scenarios; --reference: every scenario key, its unit, default and range",
        description="List the scenario files in scenarios/ with their descriptions. With "
        "--reference, print the scenario file reference instead (docs/scenarios.md is this "
        "output): every section and key with its unit, default, allowed values and meaning, "
        "the fault kinds and the keys each takes, and what [expect] claims mean.",
    )
    p.add_argument(
        "--reference",
        "--help-fields",
        action="store_true",
        help="print the scenario file reference (Markdown)",
    )
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.reference:
        from reports.scenario_reference import reference

        print(reference(), end="")
        return 0
    from sim.scenario import ScenarioError, load_all

    try:
        scenarios = load_all()
    except ScenarioError as exc:
        raise UsageError(scenario_problem(exc)) from None
    width = max((len(s.name) for s in scenarios), default=0)
    for s in scenarios:
        print(f"{s.name.ljust(width)}  {s.description.splitlines()[0]}")
    return 0
