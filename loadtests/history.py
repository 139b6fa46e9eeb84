"""Client histories: one JSON-lines file per Locust process, written as things happen, merged
into one time-ordered ``history.jsonl`` for the audit and the report."""

from __future__ import annotations

import heapq
import itertools
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from core.history import Event

PART_GLOB = "history-*.jsonl"
MERGED = "history.jsonl"


class ProcessHistory:
    """Appends events to ``history-<host>-<pid>.jsonl``; safe across threads and greenlets."""

    def __init__(self, directory: str | Path, t0_ms: int, tag: str | None = None) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.t0_ms = t0_ms
        self.tag = tag or f"{socket.gethostname()}-{os.getpid()}"
        self.path = self.directory / f"history-{self.tag}.jsonl"
        self._handle: IO[str] = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.written = 0

    def now(self) -> int:
        """Milliseconds since the run's origin (shared by every process)."""
        return int(time.time() * 1000) - self.t0_ms

    def next_attempt(self) -> str:
        return f"{self.tag}-{next(self._ids)}"

    def record(self, event: Event) -> None:
        line = json.dumps(event.to_dict(), separators=(",", ":")) + "\n"
        with self._lock:
            self._handle.write(line)
            self._handle.flush()
            self.written += 1

    def close(self) -> None:
        with self._lock:
            if not self._handle.closed:
                self._handle.close()


def _read(path: Path) -> Iterator[tuple[int, int, str]]:
    with open(path, encoding="utf-8") as handle:
        for n, line in enumerate(handle):
            if line.strip():
                try:
                    t = int(json.loads(line)["t"])
                except (ValueError, KeyError):
                    continue  # a line cut by a killed process
                yield t, n, line if line.endswith("\n") else line + "\n"


def merge_histories(run_dir: Path, extra: list[Path] | None = None) -> Path:
    """Merge every part (and ``extra`` files) into ``history.jsonl``, ordered by time.

    Each part is already in time order (one process appends as it goes), so a k-way merge
    keeps memory flat however long the run was."""
    parts = sorted(p for p in run_dir.glob(PART_GLOB)) + list(extra or [])
    parts = [p for p in parts if p.exists()]
    out = run_dir / MERGED
    streams = [((t, i, n, line) for t, n, line in _read(p)) for i, p in enumerate(sorted(parts))]
    with open(out, "w", encoding="utf-8") as handle:
        for _t, _i, _n, line in heapq.merge(*streams):
            handle.write(line)
    return out


def count_lines(run_dir: Path) -> int:
    total = 0
    for p in run_dir.glob(PART_GLOB):
        with open(p, "rb") as handle:
            while chunk := handle.read(1 << 20):
                total += chunk.count(b"\n")
    return total


READS_GLOB = "reads-*.jsonl"


class ReadLog:
    """``reads-<host>-<pid>.jsonl``: every ``GET /payments/{id}`` a snooper made with another
    merchant's key (``reader`` is not ``owner``); the audit counts a 200 as an E4 violation
    (a merchant shown another merchant's payment)."""

    def __init__(self, directory: str | Path, t0_ms: int) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.t0_ms = t0_ms
        self.path = self.directory / f"reads-{socket.gethostname()}-{os.getpid()}.jsonl"
        self._handle: IO[str] = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._lock = threading.Lock()

    def record(
        self, user: str, reader: str, owner: str, payment_id: str, target: str, status: int
    ) -> None:
        row = {
            "t": int(time.time() * 1000) - self.t0_ms,
            "user": user,
            "reader": reader,
            "owner": owner,
            "payment_id": payment_id,
            "target": target,
            "status": status,
        }
        with self._lock:
            self._handle.write(json.dumps(row, separators=(",", ":")) + "\n")
            self._handle.flush()

    def close(self) -> None:
        with self._lock:
            if not self._handle.closed:
                self._handle.close()


def load_reads(run_dir: Path) -> list[dict[str, object]]:
    """Every cross-merchant read of the run, in time order."""
    rows: list[dict[str, object]] = []
    for path in sorted(Path(run_dir).glob(READS_GLOB)):
        with open(path, encoding="utf-8") as handle:
            rows += [json.loads(line) for line in handle if line.strip()]
    return sorted(rows, key=lambda r: int(str(r["t"])))
