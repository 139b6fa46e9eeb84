"""Process helpers for the live tests: the Stripe mock and API servers on free loopback ports.

Each test run gets its own Postgres schema (``ph_test_<run>``) and Redis key prefix
(``phtest:<run>:``), created here and removed at the end; nothing else is touched.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from live.processes import MOCK_LAUNCHER

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    check: Callable[[], bool], timeout_s: float, what: str, proc: subprocess.Popen[bytes]
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before it was ready")
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} was not ready within {timeout_s:.0f}s")


def http_ok(url: str, auth: tuple[str, str] | None = None) -> bool:
    try:
        return httpx.get(url, timeout=2.0, auth=auth).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Proc:
    """A child process this test session started (stopped only through its own handle)."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int

    def stop(self) -> int | None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(STOP_TIMEOUT_S)
        return self.popen.returncode

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def start_mock(log_dir: Path) -> Proc:
    port = free_port()
    log = log_dir / f"stripe-mock-{port}.log"
    with log.open("ab") as handle:
        popen = subprocess.Popen(
            ["node", str(MOCK_LAUNCHER), str(port)],
            cwd=REPO,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    proc = Proc("stripe-mock", popen, log, port)
    url = f"http://127.0.0.1:{port}/v1/charges?limit=1"
    try:
        wait_for(lambda: http_ok(url, ("sk_test_x", "")), START_TIMEOUT_S, "stripe mock", popen)
    except RuntimeError as exc:
        proc.stop()
        raise RuntimeError(f"{exc}\n{proc.log_tail()}") from None
    return proc


@dataclass
class ServerPool:
    """API servers started with an environment; every one is stopped at teardown."""

    env: dict[str, str]
    log_dir: Path
    started: list[Proc] = field(default_factory=list)

    def start_many(self, n: int, extra_env: dict[str, str] | None = None) -> list[Proc]:
        """Start ``n`` servers at once (imports dominate start-up), then wait for each."""
        ports: list[int] = []
        for _ in range(10 * n):
            if len(ports) == n:
                break
            port = free_port()
            if port not in ports:
                ports.append(port)
        procs = [self.spawn(extra_env, port) for port in ports]
        for proc in procs:
            self.wait_ready(proc, "/readyz")
        return procs

    def start(
        self,
        extra_env: dict[str, str] | None = None,
        port: int | None = None,
        *,
        ready_path: str = "/readyz",
    ) -> Proc:
        proc = self.spawn(extra_env, port)
        self.wait_ready(proc, ready_path)
        return proc

    def spawn(self, extra_env: dict[str, str] | None = None, port: int | None = None) -> Proc:
        port = port or free_port()
        log = self.log_dir / f"server-{port}.log"
        env = {**os.environ, **self.env, **(extra_env or {})}
        with log.open("ab") as handle:
            popen = subprocess.Popen(
                [sys.executable, "-m", "payharness.commands.serve", "--port", str(port)],
                cwd=REPO,
                env=env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        proc = Proc(f"server-{port}", popen, log, port)
        self.started.append(proc)
        return proc

    def wait_ready(self, proc: Proc, ready_path: str) -> None:
        url = f"http://127.0.0.1:{proc.port}{ready_path}"
        try:
            wait_for(lambda: http_ok(url), START_TIMEOUT_S, proc.name, proc.popen)
        except RuntimeError as exc:
            proc.stop()
            raise RuntimeError(f"{exc}\n{proc.log_tail()}") from None

    def stop_all(self) -> None:
        for proc in self.started:
            proc.stop()


def start_paypal_standin(
    log_dir: Path,
    *,
    search_lag_ms: int = 0,
    simultaneous: str = "fail",
    processing_ms: int = 20,
) -> Proc:
    """The PayPal stand-in (``python -m live.paypal_standin``) on a free loopback port."""
    port = free_port()
    log = log_dir / f"paypal-standin-{port}.log"
    cmd = [
        sys.executable, "-m", "live.paypal_standin", "--port", str(port),
        "--search-lag-ms", str(search_lag_ms), "--simultaneous", simultaneous,
        "--processing-ms", str(processing_ms),
    ]  # fmt: skip
    with log.open("ab") as handle:
        popen = subprocess.Popen(
            cmd, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    proc = Proc("paypal-standin", popen, log, port)
    url = f"http://127.0.0.1:{port}/_standin/healthz"
    try:
        wait_for(lambda: http_ok(url), START_TIMEOUT_S, "paypal stand-in", popen)
    except RuntimeError as exc:
        proc.stop()
        raise RuntimeError(f"{exc}\n{proc.log_tail()}") from None
    return proc
