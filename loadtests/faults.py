"""Live faults on loopback, bounded and reversible, fenced to the run's own processes and data.

- ``kill``: SIGKILL one API server at a random moment, then start it again with the exact
  command line, environment and working directory it had (read from ``/proc`` before the
  kill) and wait for ``/readyz``;
- ``redis-flush``: delete the run's Redis keys only (``SCAN MATCH`` on the stack's prefix and
  the run's key prefix, then ``UNLINK``);
- ``redis-restart``: SIGKILL and restart a Redis server the harness started itself (never a
  shared one): everything in it is lost, as on a failover without persistence;
- ``pg-terminate``: ``pg_terminate_backend`` on the Postgres backends whose client sockets
  belong to the run's API server processes (found through ``/proc``), nothing else;
- ``mock``: client side; a share of payments carry ``tok_500``/``tok_429`` (see the users).

Each injection is written to ``faults.jsonl`` as a window ``{kind, start_ms, end_ms, detail}``
on the run's clock, which the report shades.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

SERVER_SIDE = ("kill", "redis-flush", "redis-restart", "pg-terminate")


@dataclass(frozen=True, slots=True)
class ProcessImage:
    """What it takes to start a process again exactly as it was."""

    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: str

    @classmethod
    def of(cls, pid: int) -> ProcessImage:
        proc = Path(f"/proc/{pid}")
        argv = tuple(a.decode() for a in (proc / "cmdline").read_bytes().split(b"\0") if a)
        env: dict[str, str] = {}
        for item in (proc / "environ").read_bytes().split(b"\0"):
            if b"=" in item:
                k, v = item.split(b"=", 1)
                env[k.decode(errors="replace")] = v.decode(errors="replace")
        return cls(argv, env, os.readlink(proc / "cwd"))

    def start(self, log_path: Path) -> subprocess.Popen[bytes]:
        log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
        return subprocess.Popen(
            list(self.argv),
            env=self.env,
            cwd=self.cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


def wait_ready(url: str, timeout_s: float = 30.0, path: str = "/readyz") -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + path, timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


def socket_ports_of(pid: int, remote_port: int) -> set[int]:
    """Local TCP ports of ``pid``'s sockets connected to ``remote_port`` (e.g. 5432)."""
    inodes: set[str] = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        for fd in fd_dir.iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return set()
    ports: set[int] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            local, remote, inode = cols[1], cols[2], cols[9]
            if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == remote_port:
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


@dataclass(slots=True)
class FaultTargets:
    """What the faults may touch: the run's servers, Redis keys, Redis server, backends."""

    servers: dict[str, int]
    """API base URL → pid."""
    redis_url: str
    redis_pattern: str
    """``SCAN MATCH`` pattern of the run's keys only."""
    database_url: str
    postgres_port: int = 5432
    own_redis: Any = None
    """A ``PrivateRedis`` the harness started, or None (then ``redis-restart`` is refused)."""
    log_dir: Path = Path(".")
    restarted: dict[str, int] = field(default_factory=dict)
    """Servers the faults restarted: URL → new pid (the stack's pid files name the old one)."""


@dataclass(slots=True)
class FaultLog:
    path: Path
    t0_ms: int
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> int:
        return int(time.time() * 1000) - self.t0_ms

    def window(self, kind: str, start_ms: int, end_ms: int, detail: str) -> None:
        row = {"kind": kind, "start_ms": start_ms, "end_ms": end_ms, "detail": detail}
        with self._lock, open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")


def kill_server(targets: FaultTargets, url: str) -> str:
    pid = targets.servers[url]
    image = ProcessImage.of(pid)
    os.kill(pid, signal.SIGKILL)
    for _ in range(50):
        if not alive(pid):
            break
        time.sleep(0.02)
    time.sleep(0.3)
    proc = image.start(targets.log_dir / f"restarted-{url.rsplit(':', 1)[-1]}.log")
    targets.servers[url] = proc.pid
    targets.restarted[url] = proc.pid
    ok = wait_ready(url)
    return f"SIGKILL pid {pid} at {url}; restarted as pid {proc.pid}" + (
        "" if ok else " (NOT ready after 30 s)"
    )


def flush_redis(targets: FaultTargets) -> str:
    import redis

    client = redis.Redis.from_url(targets.redis_url, socket_timeout=5)
    deleted = 0
    try:
        batch: list[Any] = []
        for key in client.scan_iter(match=targets.redis_pattern, count=1000):
            batch.append(key)
            if len(batch) >= 500:
                deleted += int(client.unlink(*batch))
                batch = []
        if batch:
            deleted += int(client.unlink(*batch))
    finally:
        client.close()
    return f"deleted {deleted} keys matching {targets.redis_pattern}"


def restart_redis(targets: FaultTargets) -> str:
    if targets.own_redis is None:
        return "refused: Redis is shared (not started by this run); restart it yourself"
    return str(targets.own_redis.restart())


def terminate_backends(targets: FaultTargets) -> str:
    import psycopg

    ports: set[int] = set()
    for pid in targets.servers.values():
        ports |= socket_ports_of(pid, targets.postgres_port)
    if not ports:
        return "no backends of the run's servers found"
    with psycopg.connect(targets.database_url, autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE client_port = ANY(%s) AND pid <> pg_backend_pid()",
            (sorted(ports),),
        ).fetchall()
    return f"terminated {sum(1 for r in rows if r[1])} of {len(rows)} backends of the run"


class FaultInjector:
    """Injects the chosen server-side faults at random moments until ``stop`` or ``until_s``.

    Faults stop ``quiet_s`` before the end of the load so the run ends healed."""

    def __init__(
        self,
        kinds: list[str],
        targets: FaultTargets,
        log: FaultLog,
        *,
        duration_s: float,
        every_s: tuple[float, float] = (6.0, 12.0),
        quiet_s: float = 5.0,
        seed: int | None = None,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.kinds = [k for k in kinds if k in SERVER_SIDE]
        self.targets = targets
        self.log = log
        self.until_ms = int((duration_s - quiet_s) * 1000)
        self.every_s = every_s
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="faults", daemon=True)
        self.on_event = on_event
        self.injected: list[str] = []
        self.active = ""

    def start(self) -> None:
        if self.kinds:
            self.thread.start()

    def join(self, timeout: float = 60.0) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout)

    def _run(self) -> None:
        order = list(self.kinds)
        self.rng.shuffle(order)
        n = 0
        while not self.stop.wait(self.rng.uniform(*self.every_s)):
            if self.log.now() >= self.until_ms:
                return
            kind = order[n % len(order)]
            n += 1
            self.inject(kind)

    def inject(self, kind: str) -> None:
        start = self.log.now()
        self.active = kind
        try:
            if kind == "kill":
                url = self.rng.choice(sorted(self.targets.servers))
                detail = kill_server(self.targets, url)
            elif kind == "redis-flush":
                detail = flush_redis(self.targets)
            elif kind == "redis-restart":
                detail = restart_redis(self.targets)
            elif kind == "pg-terminate":
                detail = terminate_backends(self.targets)
            else:
                detail = f"unknown fault {kind}"
        except Exception as exc:  # a fault that cannot be injected is reported, not fatal
            detail = f"could not inject: {exc!r}"[:300]
        self.active = ""
        end = self.log.now()
        self.log.window(kind, start, max(end, start + 200), detail)
        self.injected.append(f"{kind}: {detail}")
        if self.on_event is not None:
            self.on_event(f"{kind}: {detail}")


@dataclass(slots=True)
class PrivateRedis:
    """A throwaway ``redis-server`` on its own port, no persistence: restarting it loses
    everything, as a failover without persistence does."""

    port: int
    log_dir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        log = open(self.log_dir / f"redis-{self.port}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._wait()
        return self

    def _wait(self, timeout_s: float = 10.0) -> None:
        import redis

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port, socket_timeout=0.5).ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"private redis-server on port {self.port} did not start")

    def restart(self) -> str:
        old = self.proc.pid if self.proc else -1
        self.stop()
        time.sleep(0.5)
        self.start()
        return f"SIGKILL redis-server pid {old} (port {self.port}), restarted empty"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None
