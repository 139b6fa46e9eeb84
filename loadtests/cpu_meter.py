"""CPU seconds by part of the run while Locust runs: the harness (Locust processes and this
run's own process), the gateway (API servers, reconcilers), the mocks, Redis, Postgres, and the
rest of the machine — so a load report says what share of the cores measured the gateway and
what share measured the harness (issue 19, item 6).

A thread reads ``/proc/<pid>/stat`` of every process of each part once a second and keeps the
last value it saw, so a process that exits inside the window (Locust's workers at the end, a
killed server) still counts up to its last reading, and one that starts inside it counts from
zero. The machine's busy time comes from ``/proc/stat``. Redis and Postgres count every
``redis-server`` / ``postgres`` process on the machine (they are shared: other work there
shows up in them).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loadtests.proc_stat import machine_busy_s, pids_named, process_cpu_s

CPU_FILE = "cpu.json"
PARTS = ("harness", "gateway", "mocks", "redis", "postgres")
SHARED = {"redis": "redis-server", "postgres": "postgres"}
"""Parts found by process name (every such process on the machine)."""

Groups = Callable[[], dict[str, list[int]]]
"""The pids of each part that this run knows of (harness, gateway, mocks); asked each tick."""


def children_of(pids: list[int]) -> list[int]:
    """``pids`` and their descendants (Locust's workers, a server's reloader children)."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parent[int(entry.name)] = int(stat[1])
            except (OSError, IndexError, ValueError):
                continue
    found = set(pids)
    grew = True
    while grew:
        new = {p for p, pp in parent.items() if pp in found and p not in found}
        found |= new
        grew = bool(new)
    return sorted(found)


class CpuMeter:
    """Samples every part's CPU once a second between ``start`` and ``stop``."""

    def __init__(self, groups: Groups, every_s: float = 1.0) -> None:
        self.groups = groups
        self.every_s = every_s
        self.first: dict[tuple[str, int], float] = {}
        self.last: dict[tuple[str, int], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-meter", daemon=True)
        self.started = 0.0
        self.busy0 = 0.0
        self.result: CpuWindow | None = None

    def _tick(self) -> None:
        parts = dict(self.groups())
        for part, comm in SHARED.items():
            parts[part] = pids_named(comm)
        for part, pids in parts.items():
            for pid in pids:
                used = process_cpu_s(pid)
                if used is None:
                    continue
                key = (part, pid)
                if key not in self.first:
                    # seen at start: count from here; appeared later: it started in the window
                    self.first[key] = used if self.started == 0.0 else 0.0
                self.last[key] = used

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self._tick()

    def start(self) -> CpuMeter:
        self._tick()
        self.started = time.monotonic()
        self.busy0 = machine_busy_s()
        self._thread.start()
        return self

    def stop(self) -> CpuWindow:
        self._stop.set()
        self._thread.join(5)
        self._tick()
        used = dict.fromkeys(PARTS, 0.0)
        for (part, pid), last in self.last.items():
            used[part] = used.get(part, 0.0) + last - self.first[(part, pid)]
        self.result = CpuWindow(
            window_s=time.monotonic() - self.started,
            cores=os.cpu_count() or 1,
            cpu_s=used,
            machine_busy_s=machine_busy_s() - self.busy0,
        )
        return self.result


@dataclass(frozen=True, slots=True)
class CpuWindow:
    """CPU seconds each part used over the load window, and the machine's busy seconds."""

    window_s: float
    cores: int
    cpu_s: dict[str, float]
    machine_busy_s: float

    @property
    def rest_of_machine_s(self) -> float:
        return max(0.0, self.machine_busy_s - sum(self.cpu_s.values()))

    def shares(self) -> list[tuple[str, float, float]]:
        """(part, CPU seconds, % of the cores over the window) for each part, the rest of the
        machine and the idle time."""
        capacity = max(self.window_s * self.cores, 1e-9)
        rows = [(k, v, 100 * v / capacity) for k, v in self.cpu_s.items()]
        rows.append(("rest of the machine", self.rest_of_machine_s, 0.0))
        rows.append(("idle", max(0.0, capacity - self.machine_busy_s), 0.0))
        return [(k, v, 100 * v / capacity) for k, v, _ in rows]

    def summary_line(self) -> str:
        """One line for the run's output: each part's share of the cores."""
        parts = ", ".join(f"{k} {p:.0f}%" for k, _, p in self.shares())
        return f"CPU over the load window ({self.window_s:.0f} s x {self.cores} cores): {parts}"

    def save(self, run_dir: Path) -> Path:
        path = Path(run_dir) / CPU_FILE
        body = {
            "window_s": round(self.window_s, 2),
            "cores": self.cores,
            "cpu_s": {k: round(v, 3) for k, v in self.cpu_s.items()},
            "machine_busy_s": round(self.machine_busy_s, 2),
        }
        path.write_text(json.dumps(body, indent=2), encoding="utf-8")
        return path

    @classmethod
    def load(cls, run_dir: Path) -> CpuWindow | None:
        path = Path(run_dir) / CPU_FILE
        if not path.exists():
            return None
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            float(raw["window_s"]),
            int(raw["cores"]),
            {str(k): float(v) for k, v in raw["cpu_s"].items()},
            float(raw["machine_busy_s"]),
        )
