"""The scenario file reference (``docs/scenarios.md``), generated from the schema itself.

Every key is declared once in ``sim/scenario.py`` (``key(...)``: default, range, unit, choices,
``source=`` text); this module only lays those declarations out, so the reference cannot drift
from what the loader accepts. ``payharness scenarios --reference`` prints the same text, and a
test checks that ``docs/scenarios.md`` equals it.
"""

from __future__ import annotations

import inspect
from typing import Any

from core.checker import PROPERTIES, TITLES
from core.providers import PROVIDERS
from core.variants import VARIANTS
from sim.calibration import CPU_KEYS, NOT_CALIBRATED
from sim.scenario import (
    FAULT_KIND_MEANING,
    VARIANT_KEYS,
    Burst,
    ClientPolicy,
    Expectation,
    FaultKind,
    FaultSpec,
    Load,
    Scenario,
    Spec,
    Topology,
    Workload,
    schema,
)

SECTIONS: tuple[tuple[str, type, str], ...] = (
    ("(top level)", Scenario, "The scenario's identity and the settle phase."),
    ("[load]", Load, "How payments arrive."),
    ("[[load.bursts]]", Burst, 'With arrivals = "burst": one table per burst.'),
    ("[workload]", Workload, "What the payments are: merchants, amounts, keys."),
    ("[client]", ClientPolicy, "How a client sends, times out and retries."),
    ("[topology]", Topology, "Servers, pools, rate limits and latencies of the backends."),
)


def _default(spec: Spec) -> str:
    if spec.default is None:
        return "(none)"
    if isinstance(spec.default, bool):
        return "true" if spec.default else "false"
    if isinstance(spec.default, str):
        return f'"{spec.default}"'
    if isinstance(spec.default, list):
        return "[]"
    if isinstance(spec.default, float):
        return f"{spec.default:g}"
    return str(spec.default)


def _allowed(spec: Spec) -> str:
    if spec.choices:
        if spec.enum is FaultKind:
            return "a fault kind (see below)"
        if len(spec.choices) > 6:
            return "an effect name (see below)"
        return ", ".join(f'"{c}"' for c in spec.choices)
    return spec.describe()


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def field_table(shape: type) -> list[str]:
    """One row per declared key of ``shape``: key, unit, default, allowed, meaning."""
    lines = ["| key | unit | default | allowed | meaning |", "| --- | --- | --- | --- | --- |"]
    for toml_key, (_name, spec) in schema(shape).items():
        meaning = "; ".join(t for t in (spec.doc, spec.source) if t)
        row = [f"`{toml_key}`", spec.unit, _default(spec), _allowed(spec), meaning]
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return lines


def _kind_specific(spec: Spec) -> str | None:
    """The fault kind a key belongs to, when its ``source`` text starts with one."""
    head = spec.source.split(":", 1)[0]
    return head if head in {k.value for k in FaultKind} else None


def fault_kinds() -> list[str]:
    """Each fault kind: what it does and the keys that apply to it."""
    keys = schema(FaultSpec)
    common = [k for k, (_n, s) in keys.items() if _kind_specific(s) is None and k != "kind"]
    lines = [
        "Keys every kind takes: " + ", ".join(f"`{k}`" for k in common) + ".",
        "",
        "| kind | what happens | its own keys |",
        "| --- | --- | --- |",
    ]
    for kind in FaultKind:
        own = [k for k, (_n, s) in keys.items() if _kind_specific(s) == kind.value]
        row = [f"`{kind.value}`", FAULT_KIND_MEANING[kind], ", ".join(f"`{k}`" for k in own)]
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    effects = schema(FaultSpec)["effect"][1].choices or ()
    lines += ["", "`effect` names one of: " + ", ".join(f"`{e}`" for e in effects) + "."]
    return lines


def variant_table() -> list[str]:
    """The ``[variant]`` overrides: every knob of ``core.variants.Variant`` with both values."""
    names = list(VARIANTS)
    lines = [
        "| key | type | " + " | ".join(f"`{n}`" for n in names) + " |",
        "| --- | --- | " + " | ".join("---" for _ in names) + " |",
    ]
    for key in VARIANT_KEYS:
        values = [getattr(VARIANTS[n], key) for n in names]
        kind = type(values[0]).__name__
        shown = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
        lines.append(f"| `{key}` | {kind} | " + " | ".join(shown) + " |")
    return lines


def _doc(obj: Any) -> str:
    return " ".join((inspect.getdoc(obj) or "").split())


def expect_section() -> list[str]:
    variants = ", ".join(f"`{v}`" for v in VARIANTS)
    providers = ", ".join(f"`{p}`" for p in PROVIDERS)
    props = [f"| {p} | {TITLES[p]} |" for p in PROPERTIES]
    return [
        f"One table per variant ({variants}), each required: `[expect.<variant>]`.",
        "",
        *field_table(Expectation),
        "",
        _doc(Expectation).replace("``", "`"),
        "",
        '`hold` and `break` take a list of properties or the string `"all"`; a property may '
        "not be in both.",
        "",
        "Per provider: `[expect.<variant>.<provider>]` (provider one of "
        f"{providers}) replaces `[expect.<variant>]` for runs on that provider, which "
        "otherwise applies to every provider. Swarms (`payharness run --seeds N`) judge the "
        "same claims over all N seeds.",
        "",
        "| property | claim |",
        "| --- | --- |",
        *props,
    ]


def calibration_section() -> list[str]:
    """The calibration file format (``sim.calibration``), for ``[topology] calibration``."""
    settable = [k for k in schema(Topology) if k not in NOT_CALIBRATED]
    return [
        "## Calibration files",
        "",
        '`[topology] calibration = "path"` names a TOML file written by `payharness '
        "calibrate RUN_DIR` (or by hand). Its figures replace the `[topology]` defaults; a key "
        "the scenario sets itself wins over the file. The path is taken relative to the "
        "scenario file's folder when the file is there, else to the working directory. "
        "`payharness run` prints which calibration each scenario used.",
        "",
        "```toml",
        "[calibration]",
        'run = "out/bench/predict-20261201-054000/calibrate"   # required: the run folder',
        'made = "2026-12-01T05:40:00Z"',
        "",
        "[topology]                       # figures for every variant",
        'redis_median_ms = { value = 0.41, source = "<run>: 400 Redis round trips, median" }',
        'cores = { value = 2, source = "<run>: os.cpu_count()" }',
        "",
        "[variants.hardened]              # CPU figures of one variant's servers",
        'cpu_ms_new = { value = 5.2, source = "<run>: the servers\' CPU over 200 new payments" }',
        "```",
        "",
        'Every figure is `{ value = <number>, source = "<run folder>: <what was measured>" }`'
        " and is checked against the key's range above. `[topology]` may set: "
        + ", ".join(f"`{k}`" for k in settable)
        + ". A `[variants.<name>]` table may set only "
        + ", ".join(f"`{k}`" for k in CPU_KEYS)
        + " (a path's CPU depends on the variant); it applies to runs of that variant.",
        "",
    ]


def reference() -> str:
    """The whole ``docs/scenarios.md``."""
    out = [
        "# Scenario files",
        "",
        "<!-- Generated from sim/scenario.py by `payharness scenarios --reference`; "
        "do not edit (tests/test_scenario_reference.py checks it). -->",
        "",
        "A scenario is a TOML file in `scenarios/` (`payharness run NAME`, `NAME.toml` or a "
        "path). Every key below is optional unless marked; a key not listed is an error that "
        "names the file, the key and what is allowed. Units: `s` seconds, `ms` milliseconds "
        "of simulated time. In *meaning*, *SDK*, *docs* and *assumption* say where a default "
        "comes from.",
        "",
    ]
    for title, shape, blurb in SECTIONS:
        out += [f"## {title}", "", blurb, "", *field_table(shape), ""]
    out += calibration_section()
    out[out.index("## (top level)") + 2] += (
        " `description` is required; `name` defaults to the file's stem; `settle_s` defaults "
        "past the lock TTL and the stale-row age."
    )
    out += [
        "## [variant]",
        "",
        "Overrides of the design's knobs for this scenario (e.g. a shorter lock TTL), applied "
        "to every variant run on it; the value's type must match. `payharness variants` says "
        "why each knob is set as it is.",
        "",
        *variant_table(),
        "",
        "## [[faults]]",
        "",
        "One table per fault; `kind` is required. A fault acts inside its window, from `at_s` "
        "for `duration_s` (default: to the end of the load phase); a point fault "
        "(`redis_failover`, `provider_key_window` without `duration_s`, a scheduled crash or "
        "stall) acts once at `at_s`. With `probability`, each matching effect inside the "
        "window draws; `count` caps the firings.",
        "",
        *field_table(FaultSpec),
        "",
        *fault_kinds(),
        "",
        "## [expect]",
        "",
        *expect_section(),
        "",
    ]
    return "\n".join(out)
