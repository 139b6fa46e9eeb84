"""Processes the stack starts: spawned detached with their log, recognised again by pid *and*
start time (so a recycled pid is never signalled), stopped gently then firmly, and probed
over HTTP until they answer."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
"""The checkout the stack's processes run from (their working directory)."""
MOCK_LAUNCHER = REPO / "live" / "stripe_mock.js"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0

ProcessEntry = dict[str, Any]
"""One started process as recorded in the stack's state: name, pid, start_time, cmd, log and
extras (port, variant)."""


def proc_start_time(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat: with the pid, it identifies one process instance."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def is_ours(entry: ProcessEntry) -> bool:
    pid = int(entry["pid"])
    return proc_start_time(pid) == entry.get("start_time") and not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def spawn(
    name: str, cmd: list[str], env: Mapping[str, str], log: Path, **extra: Any
) -> ProcessEntry:
    """Start ``cmd`` in its own session from the checkout, output appended to ``log``."""
    handle = log.open("ab")
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=dict(env),
        stdout=handle,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    handle.close()
    return {
        "name": name,
        "pid": proc.pid,
        "start_time": proc_start_time(proc.pid),
        "cmd": cmd,
        "log": str(log),
        **extra,
    }


def stop_entries(entries: list[ProcessEntry], timeout_s: float = STOP_TIMEOUT_S) -> list[str]:
    """SIGTERM each recorded process that is still the same instance; SIGKILL after timeout."""
    lines: list[str] = []
    signalled = []
    for entry in entries:
        if not is_ours(entry):
            lines.append(f"{entry['name']}: pid {entry['pid']} already gone")
            continue
        os.kill(int(entry["pid"]), signal.SIGTERM)
        signalled.append(entry)
    alive = list(signalled)
    deadline = time.monotonic() + timeout_s
    while alive and time.monotonic() < deadline:
        alive = [e for e in alive if is_ours(e)]
        time.sleep(0.1)
    for entry in signalled:
        if any(entry is a for a in alive) and is_ours(entry):
            os.kill(int(entry["pid"]), signal.SIGKILL)
            lines.append(f"{entry['name']}: pid {entry['pid']} killed after {timeout_s:.0f}s")
        else:
            lines.append(f"{entry['name']}: pid {entry['pid']} stopped")
    return lines


def http_ok(url: str, *, auth: str | None = None, timeout_s: float = 2.0) -> bool:
    try:
        r = httpx.get(url, timeout=timeout_s, auth=(auth, "") if auth else None)
    except httpx.HTTPError:
        return False
    return r.status_code == 200


def wait_until(
    check: Callable[[], bool], entry: ProcessEntry, timeout_s: float = READY_TIMEOUT_S
) -> bool:
    """True once ``check()`` holds; False at the deadline or as soon as the process is gone."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_ours(entry):
            return False
        if check():
            return True
        time.sleep(0.2)
    return False


def log_tail(path: str, lines: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
