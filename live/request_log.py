"""One JSON line per HTTP request (stdlib ``logging``, a JSON formatter, to stderr: the
server's log file under the stack's folder).

The line says who asked and what happened — request id, route, status, outcome, merchant, a
digest of the idempotency key (``core.scope.scope_digest``: the same value the Redis keys and
the provider's idempotency key carry, so an operator can follow one key through all three),
whether it was a replay, the server time and each effect with its time. Never the raw key,
the card source or any other body field: nothing from the body is put on the record.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TextIO

from core.scope import scope_digest

LOGGER_NAME = "payharness.requests"


@dataclass(slots=True)
class RequestRecord:
    """What one request's log line and metrics need; filled as the request runs."""

    method: str
    request_id: str = field(default_factory=lambda: os.urandom(8).hex())
    """16 hex characters, 64 random bits (as ``uuid4().hex[:16]`` gave, without the UUID)."""
    route: str = "unmatched"
    status: int = 500
    outcome: str = "none"
    merchant: str | None = None
    key_digest: str | None = None
    replayed: bool = False
    effects: list[tuple[str, float]] = field(default_factory=list)
    """(effect class name, seconds) in the order the flow yielded them."""

    def identify(self, merchant: str, key: str) -> None:
        self.merchant = merchant
        self.key_digest = scope_digest(merchant, key)

    def lock_wait_s(self) -> float | None:
        """Seconds slept for the key's lock; None when the request never tried to take it."""
        from live.metrics import LOCK_ATTEMPTS

        if not any(name in LOCK_ATTEMPTS for name, _ in self.effects):
            return None
        return sum(s for name, s in self.effects if name == "Sleep")

    def line(self, seconds: float) -> dict[str, object]:
        return {
            "ts": round(time.time(), 3),
            "event": "request",
            "request_id": self.request_id,
            "method": self.method,
            "route": self.route,
            "status": self.status,
            "outcome": self.outcome,
            "merchant": self.merchant,
            "key_digest": self.key_digest,
            "replayed": self.replayed,
            "duration_ms": round(seconds * 1000, 3),
            "effects": [{"effect": n, "ms": round(s * 1000, 3)} for n, s in self.effects],
        }


CURRENT: ContextVar[RequestRecord | None] = ContextVar("payharness_request", default=None)
"""The request being served in this task (the transport appends its effects here)."""


class JsonFormatter(logging.Formatter):
    """A record's ``fields`` (or its message) as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            return json.dumps(fields, separators=(",", ":"), ensure_ascii=True)
        return json.dumps({"event": record.getMessage(), "level": record.levelname})


def request_logger(stream: TextIO | None = None) -> logging.Logger:
    """The request logger, given one JSON handler on ``stream`` (default stderr) once."""
    logger = logging.getLogger(LOGGER_NAME)
    if not logger.handlers:
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger
