"""Calibration files: topology figures measured on a live run (``payharness calibrate``), each
with its source, that replace the simulator's assumed figures when a scenario names the file
(``[topology] calibration = "path"``).

The format (TOML) keeps every figure beside where it came from, so a planner reading a
prediction can trace each number to the run and the measurement behind it::

    [calibration]
    run = "out/bench/predict-…/calibrate"      # the run folder the figures were fitted from
    made = "2026-12-01T05:40:00Z"

    [topology]                                  # figures for every variant
    redis_median_ms = { value = 0.41, source = "…: 400 SET NX PX/GET/DEL round trips, median" }

    [variants.hardened]                         # CPU figures of one variant's servers
    cpu_ms_new = { value = 5.2, source = "…: servers' CPU over 200 new payments" }

Values are validated by the scenario loader against the ``[topology]`` schema; this module
only reads and writes the file.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

CPU_KEYS = (
    "cpu_ms_new",
    "cpu_ms_replay",
    "cpu_ms_conflict",
    "shared_cpu_ms_new",
    "shared_cpu_ms_replay",
    "shared_cpu_ms_conflict",
)
"""The keys a ``[variants.<name>]`` table may set: a path's CPU depends on the variant."""

NOT_CALIBRATED = ("servers", "balancer", "calibration")
"""Topology keys a calibration never sets: they are the planner's choice, not a measurement."""


class CalibrationError(ValueError):
    """The file is unreadable or malformed; the message names the key."""


@dataclass(frozen=True, slots=True)
class Figure:
    value: float | int
    source: str


@dataclass(frozen=True, slots=True)
class Calibration:
    path: str
    run: str
    made: str = ""
    topology: Mapping[str, Figure] = field(default_factory=dict)
    variants: Mapping[str, Mapping[str, Figure]] = field(default_factory=dict)

    def sources(self, variant: str | None = None) -> dict[str, str]:
        """Key -> source of every figure that applies to ``variant`` (its own last)."""
        out = {k: f.source for k, f in self.topology.items()}
        if variant is not None:
            out.update({k: f.source for k, f in self.variants.get(variant, {}).items()})
        return out


def resolve(name: str, scenario_file: str) -> Path:
    """``name`` relative to the scenario file's folder when it exists there, else as given
    (relative to the working directory)."""
    path = Path(name)
    if not path.is_absolute():
        beside = Path(scenario_file).parent / path
        if beside.exists():
            return beside
    return path


def _figures(where: str, table: object) -> dict[str, Figure]:
    if not isinstance(table, dict):
        raise CalibrationError(f"{where}: must be a table of key = {{ value, source }}")
    out: dict[str, Figure] = {}
    for k, item in table.items():
        if (
            not isinstance(item, dict)
            or set(item) != {"value", "source"}
            or not isinstance(item["value"], int | float)
            or isinstance(item["value"], bool)
            or not isinstance(item["source"], str)
            or not item["source"].strip()
        ):
            raise CalibrationError(
                f'{where}.{k}: must be {{ value = <number>, source = "<run: what>" }}'
            )
        out[k] = Figure(item["value"], item["source"])
    return out


def read(path: Path) -> Calibration:
    """Parse a calibration file; raise ``CalibrationError`` on a malformed one."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CalibrationError(f"cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CalibrationError(f"not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"calibration", "topology", "variants"})
    if unknown:
        raise CalibrationError(
            f"{unknown[0]}: unknown table; allowed: calibration, topology, variants"
        )
    head = data.get("calibration", {})
    if not isinstance(head, dict) or not isinstance(head.get("run"), str):
        raise CalibrationError("calibration.run: required, the run folder (a string)")
    variants_raw = data.get("variants", {})
    if not isinstance(variants_raw, dict):
        raise CalibrationError("variants: must hold one table per variant")
    variants = {v: _figures(f"variants.{v}", t) for v, t in variants_raw.items()}
    for v, figures in variants.items():
        extra = sorted(set(figures) - set(CPU_KEYS))
        if extra:
            raise CalibrationError(
                f"variants.{v}.{extra[0]}: a variant sets CPU keys only: " + ", ".join(CPU_KEYS)
            )
    return Calibration(
        path=str(path),
        run=head["run"],
        made=str(head.get("made", "")),
        topology=_figures("topology", data.get("topology", {})),
        variants=variants,
    )


def _toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a TOML basic string


def _number(value: float | int) -> str:
    return str(value) if isinstance(value, int) else repr(round(float(value), 4))


def render(calibration: Calibration, comment: str = "") -> str:
    """The file's text (``read`` gives the same calibration back)."""
    lines = [f"# {line}" for line in comment.splitlines()]
    lines += [
        "[calibration]",
        f"run = {_toml_string(calibration.run)}",
        f"made = {_toml_string(calibration.made)}",
        "",
    ]

    def table(name: str, figures: Mapping[str, Figure]) -> None:
        lines.append(f"[{name}]")
        for k, f in figures.items():
            lines.append(
                f"{k} = {{ value = {_number(f.value)}, source = {_toml_string(f.source)} }}"
            )
        lines.append("")

    table("topology", calibration.topology)
    for v, figures in calibration.variants.items():
        table(f"variants.{v}", figures)
    return "\n".join(lines)


def write(path: Path, calibration: Calibration, comment: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(calibration, comment), encoding="utf-8")
    return path
