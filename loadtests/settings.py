"""One run's settings, shared by the orchestrator, every Locust process and the audit.

Locust processes (a local master and workers, or workers on other hosts) read the settings
from ``PAYHARNESS_LOAD_SETTINGS`` (a JSON file path or inline JSON), so a worker started by
hand on another machine only needs that variable and the master's address.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

ENV = "PAYHARNESS_LOAD_SETTINGS"

USER_KINDS = (
    "payer",
    "retrier",
    "double_tapper",
    "key_reuser",
    "new_key_after_failure",
    "snooper",
)
DEFAULT_WEIGHTS: dict[str, int] = {
    "payer": 10,
    "retrier": 4,
    "double_tapper": 2,
    "key_reuser": 1,
    "new_key_after_failure": 2,
    "snooper": 1,
}
SHAPES = ("steady", "step", "spike")
FAULT_KINDS = ("kill", "redis-flush", "redis-restart", "pg-terminate", "mock")
"""Live fault kinds: SIGKILL+restart an API server; delete this run's Redis keys; restart a
Redis the harness started itself; terminate this run's Postgres backends; make the mock
answer 500/429 through its test tokens (client side: those sources appear in requests)."""


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:6]


@dataclass(frozen=True, slots=True)
class LoadSettings:
    """Everything a Locust process needs to know about the run."""

    run_id: str
    targets: tuple[str, ...]
    """Base URLs of the API servers; users pick among them (a double-tapper uses two)."""
    history_dir: str
    t0_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    """Wall-clock origin of event times, common to all processes (NTP-synced hosts)."""
    weights: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    merchants: int = 3
    pace_s: float = 1.0
    """Each user starts one scenario every ``pace_s`` seconds (constant pacing), so offered
    load is ``users / pace_s`` scenarios per second."""
    timeout_s: float = 5.0
    decline_rate: float = 0.05
    mock_fault_rate: float = 0.0
    """Share of payments whose source is ``tok_500`` or ``tok_429`` (the ``mock`` fault)."""
    max_retries: int = 4
    shape: str = "steady"
    users: int = 10
    spawn_rate: float = 5.0
    duration_s: float = 60.0
    step_users: int = 0
    step_s: float = 15.0
    slo_ms: float = 250.0
    api_keys: dict[str, str] = field(default_factory=dict)
    """Each merchant's API key (``Authorization: Bearer``), issued by the run at its start and
    removed at its end; ``settings.json`` is rewritten without them then (``redacted``)."""

    @property
    def merchant_prefix(self) -> str:
        """Every merchant id of the run starts with this: the audit's and the faults' fence."""
        return f"lt{self.run_id.replace('-', '')[-12:]}"

    def merchant(self, i: int) -> str:
        return f"{self.merchant_prefix}-m{i}"

    def redacted(self) -> LoadSettings:
        """These settings with the keys masked (what stays on disk after the run)."""
        return replace(self, api_keys=dict.fromkeys(self.api_keys, "***"))

    def auth_for(self, merchant: str) -> dict[str, str]:
        token = self.api_keys.get(merchant)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def save(self, path: Path) -> Path:
        """Written owner-only: while the run lasts the file holds the merchants' keys."""
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadSettings:
        names = {f.name for f in fields(cls)}
        clean = {k: v for k, v in data.items() if k in names}
        if "targets" in clean:
            clean["targets"] = tuple(clean["targets"])
        return cls(**clean)

    @classmethod
    def load(cls, source: str) -> LoadSettings:
        text = source if source.lstrip().startswith("{") else Path(source).read_text("utf-8")
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_env(cls) -> LoadSettings:
        source = os.environ.get(ENV)
        if not source:
            raise RuntimeError(
                f"{ENV} is not set: run through `payharness load`, or point it at the run's "
                "settings.json (or inline JSON) when starting Locust by hand"
            )
        return cls.load(source)

    def with_(self, **changes: Any) -> LoadSettings:
        return replace(self, **changes)
