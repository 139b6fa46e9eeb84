"""A model of the Redis commands the gateway uses, with their documented semantics.

Sources: redis.io/commands/set (``SET key value NX PX ms``: set only if absent, expire after
ms), the "distributed locks with Redis" page (release by a Lua compare-and-delete so a client
never deletes a lock another client holds), and redis.io/docs/management/persistence (with no
RDB/AOF a restart or failover to an unsynced replica loses every key).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.effects import Unavailable


@dataclass(slots=True)
class _Entry:
    value: Any
    expires_at: int | None


@dataclass(slots=True)
class RedisModel:
    """Keys with expiry on the model clock; availability and data loss are switchable."""

    clock: Callable[[], int]
    available: bool = True
    _data: dict[str, _Entry] = field(default_factory=dict)

    def _check(self) -> None:
        if not self.available:
            raise Unavailable("redis: connection refused")

    def _live(self, key: str) -> _Entry | None:
        entry = self._data.get(key)
        if entry is not None and entry.expires_at is not None and entry.expires_at <= self.clock():
            del self._data[key]  # lazy expiry, as Redis does on access
            return None
        return entry

    def get(self, key: str) -> Any:
        self._check()
        entry = self._live(key)
        return None if entry is None else entry.value

    def set(self, key: str, value: Any, *, px: int | None = None, nx: bool = False) -> bool:
        """``SET``; with ``nx`` only when absent. Returns whether the value was written."""
        self._check()
        if px is not None and px <= 0:
            raise ValueError("redis: invalid expire time in 'set' command")
        if nx and self._live(key) is not None:
            return False
        self._data[key] = _Entry(value, None if px is None else self.clock() + px)
        return True

    def delete(self, key: str) -> bool:
        self._check()
        return self._data.pop(key, None) is not None and True

    def compare_and_delete(self, key: str, token: Any) -> bool:
        """The lock-release script: ``if GET(key) == token then DEL(key)``, atomically."""
        self._check()
        entry = self._live(key)
        if entry is None or entry.value != token:
            return False
        del self._data[key]
        return True

    def ttl_ms(self, key: str) -> int | None:
        entry = self._live(key)
        if entry is None or entry.expires_at is None:
            return None
        return entry.expires_at - self.clock()

    def lose_data(self) -> int:
        """A restart or failover with nothing persisted: every key is gone. Returns how many."""
        lost = len(self._data)
        self._data.clear()
        return lost

    def keys(self) -> list[str]:
        return [k for k in list(self._data) if self._live(k) is not None]
