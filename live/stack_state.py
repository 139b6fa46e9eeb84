"""The stack's record, ``<output root>/stack/state.json``: what ``stack up`` started (pids,
start times, ports, logs) and with which environment, so ``status``, ``down``, the load runs
and the bench find exactly those processes again."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from live.paths import output_root

StackState = dict[str, Any]
"""``started_at``, ``stripe_api_base``, ``servers`` (URLs), ``env`` (secrets masked) and
``processes`` (``live.processes.ProcessEntry``)."""


def stack_dir(env: Mapping[str, str] | None = None) -> Path:
    d = output_root(env) / "stack"
    d.mkdir(parents=True, exist_ok=True)
    return d


def state_path(env: Mapping[str, str] | None = None) -> Path:
    return stack_dir(env) / "state.json"


def load_state(env: Mapping[str, str] | None = None) -> StackState | None:
    path = state_path(env)
    if not path.exists():
        return None
    data: StackState = json.loads(path.read_text())
    return data


def save_state(state: StackState, env: Mapping[str, str] | None = None) -> None:
    """Replace the record atomically (readers never see half a file)."""
    tmp = state_path(env).with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(state_path(env))
