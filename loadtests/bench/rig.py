"""What the bench measures on, set up for one run and taken down after it: a private Postgres
database and Redis, a stack of flow servers (no reconciler) on them, and the bare endpoints.

Everything is the run's own, so its counters (``INFO stats``, ``pg_stat_database``) count
only the bench's work, and nothing shared is touched."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx
import psycopg

from live.config import LiveConfig
from live.processes import REPO, proc_start_time
from live.stack import StackOptions, StackUpError, bring_up, take_down
from live.stack_state import StackState, load_state
from loadtests.faults import PrivateRedis, ProcessImage, alive, wait_ready
from loadtests.stack import free_port, ports_free, unmasked

FLOOR = "floor"
"""The HTTP floor's endpoint (``loadtests.floor``): not a flow, no payments."""
NOT_FLOWS = frozenset({"bare", FLOOR})


class BenchError(RuntimeError):
    pass


@dataclass(slots=True)
class BenchRig:
    """The private services and the endpoints' servers (``groups``: endpoint -> URLs)."""

    out_dir: Path
    echo: Callable[[str], None]
    admin_url: str
    dbname: str
    redis: PrivateRedis
    env: dict[str, str]
    groups: dict[str, list[str]] = field(default_factory=dict)
    stack_env: dict[str, str] = field(default_factory=dict)
    bare_procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    stack_up: bool = False
    floor_pid: int | None = None

    @property
    def db_url(self) -> str:
        return self.admin_url.rsplit("/", 1)[0] + "/" + self.dbname

    @property
    def state_file(self) -> Path:
        return self.out_dir / "stack" / "state.json"

    @property
    def live_config(self) -> LiveConfig:
        return LiveConfig.from_env(self.stack_env)

    def api_key_auth(self, merchant: str) -> dict[str, str]:
        """A new API key for ``merchant`` in the bench's own database (dropped with it)."""
        from live.merchant_keys import add_key

        cfg = self.live_config
        token = add_key(cfg.database_url, cfg.db_schema, merchant).token
        return {"Authorization": f"Bearer {token}"}

    @property
    def redis_pids(self) -> list[int]:
        return [self.redis.proc.pid] if self.redis.proc is not None else []

    @classmethod
    def open(
        cls,
        endpoints: list[str],
        servers_per_endpoint: int,
        out_dir: Path,
        bench_id: str,
        echo: Callable[[str], None],
    ) -> BenchRig:
        """Create the database and Redis, then start the servers; on any failure, take down
        what had started."""
        admin_url = LiveConfig.from_env().database_url
        dbname = "lt_bench_" + bench_id.replace("-", "_")
        _create_database(admin_url, dbname)
        redis = PrivateRedis(free_port(), out_dir).start()
        env = {
            **os.environ,
            "PAYHARNESS_OUT": str(out_dir),
            "PAYHARNESS_DATABASE_URL": admin_url.rsplit("/", 1)[0] + "/" + dbname,
            "PAYHARNESS_REDIS_URL": redis.url,
            "PAYHARNESS_DB_SCHEMA": "payharness",
            "PAYHARNESS_REDIS_PREFIX": "bench:",
        }
        rig = cls(out_dir, echo, admin_url, dbname, redis, env)
        try:
            flows = [e for e in endpoints if e not in NOT_FLOWS]
            rig._start_flow_servers(bench_id, flows, servers_per_endpoint)
            if "bare" in endpoints:
                rig._start_bare_servers(servers_per_endpoint)
            if FLOOR in endpoints:
                rig._start_floor_server()
        except BaseException:
            rig.close()
            raise
        return rig

    def _start_flow_servers(self, bench_id: str, flows: list[str], k: int) -> None:
        """One stack with ``k`` servers per flow variant, on consecutive ports."""
        n_servers = k * max(1, len(flows))
        variants = ",".join(v for v in flows for _ in range(k)) or "hardened"
        self.echo(
            f"bench {bench_id}: stack with {n_servers} servers ({variants}), private Redis "
            f"and database; output in {self.out_dir}"
        )
        options = StackOptions(
            servers=n_servers,
            base_port=consecutive_ports(n_servers),
            mock_port=free_port(),
            variant=variants,
            reconciler=False,
        )
        try:
            bring_up(options, self.env, echo=lambda _line: None)
        except StackUpError as exc:
            raise BenchError(f"stack up failed:\n{str(exc)[-2000:]}") from None
        self.stack_up = True
        state = self._state()
        self.stack_env = {**self.env, **unmasked(state["env"], self.env)}
        for entry in state["processes"]:
            if entry["name"].startswith("server-"):
                url = f"http://127.0.0.1:{entry['port']}"
                self.groups.setdefault(entry["variant"], []).append(url)

    def _spawn(self, module: str, port: int, log_name: str) -> subprocess.Popen[bytes]:
        """One ``python -m module --port P`` of the rig, in its own session, logging to
        ``log_name`` in the run folder."""
        log = open(self.out_dir / log_name, "ab")  # noqa: SIM115
        return subprocess.Popen(
            [sys.executable, "-m", module, "--port", str(port)],
            env=self.stack_env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _start_bare_servers(self, k: int) -> None:
        """``k`` processes of ``loadtests.bare``: charges only, through the same adapter."""
        base = consecutive_ports(k)
        for i in range(k):
            self.bare_procs.append(self._spawn("loadtests.bare", base + i, f"bare-{i}.log"))
        self.groups["bare"] = [f"http://127.0.0.1:{base + i}" for i in range(k)]
        for url in self.groups["bare"]:
            if not wait_ready(url, 30):
                raise BenchError(f"bare endpoint {url} did not start")

    def _start_floor_server(self) -> None:
        """One ``loadtests.floor`` process: the HTTP stack's layers, one route each; its
        routes are the endpoint's targets (``<url>/<layer>``, posted at ``/payments``)."""
        port = consecutive_ports(1)
        self.bare_procs.append(self._spawn("loadtests.floor", port, "floor.log"))
        self.floor_pid = self.bare_procs[-1].pid
        self.groups[FLOOR] = [f"http://127.0.0.1:{port}"]
        if not wait_ready(self.groups[FLOOR][0], 30):
            raise BenchError(f"floor server {self.groups[FLOOR][0]} did not start")

    def _state(self) -> StackState:
        state = load_state(self.env)
        if state is None:
            raise BenchError(f"no stack recorded in {self.state_file}")
        return state

    def server_pids(self, endpoint: str) -> list[int]:
        if endpoint == FLOOR:
            return [self.floor_pid] if self.floor_pid is not None else []
        if endpoint == "bare":
            return [p.pid for p in self.bare_procs if p.pid != self.floor_pid]
        return [
            int(e["pid"])
            for e in self._state()["processes"]
            if e["name"].startswith("server-") and e.get("variant") == endpoint
        ]

    def restart_mock(self, *, say: bool = True) -> list[int]:
        """Restart the mock empty (say so unless not ``say``) and return its pid, as a list
        for the CPU meter."""
        cfg = self.live_config
        said = restart_mock(self.state_file, cfg.stripe_api_base, cfg.stripe_api_key)
        if say:
            self.echo("  " + said)
        return self.mock_pids()

    def mock_pids(self) -> list[int]:
        """The Stripe mock's pid, as a list for the CPU meter."""
        return [int(e["pid"]) for e in self._state()["processes"] if e["name"] == "stripe-mock"]

    def close(self) -> None:
        """Stop the bare servers and the stack, stop Redis, drop the database."""
        for p in self.bare_procs:
            p.terminate()
        for p in self.bare_procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if self.stack_up:
            take_down(self.env)
        self.redis.stop()
        try:
            with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
        except psycopg.Error as exc:
            self.echo(f"could not drop database {self.dbname}: {exc}")

    def __enter__(self) -> BenchRig:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _create_database(admin_url: str, dbname: str) -> None:
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
    except psycopg.Error as exc:
        raise BenchError(f"cannot create the bench database {dbname}: {exc}") from exc


def consecutive_ports(n: int) -> int:
    """The first of ``n`` consecutive free loopback ports."""
    for _ in range(100):
        base = free_port()
        if base + n < 65000 and ports_free([base + i for i in range(n)]):
            return base
    raise RuntimeError("no free consecutive ports")


def restart_mock(state_file: Path, api_base: str, api_key: str) -> str:
    """Restart the stack's Stripe mock, empty (it keeps every charge in memory and slows as
    they pile up), and record the new pid so ``stack down`` still stops it."""
    state = json.loads(state_file.read_text())
    entry = next((e for e in state["processes"] if e["name"] == "stripe-mock"), None)
    if entry is None:
        return "no mock in the stack (an external provider): not restarted"
    image = ProcessImage.of(int(entry["pid"]))
    os.kill(int(entry["pid"]), signal.SIGKILL)
    for _ in range(100):
        if not alive(int(entry["pid"])):
            break
        time.sleep(0.02)
    proc = image.start(Path(entry["log"]))
    entry["pid"], entry["start_time"] = proc.pid, proc_start_time(proc.pid)
    state_file.write_text(json.dumps(state, indent=2))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(
                f"{api_base}/v1/charges?limit=1", auth=(api_key, ""), timeout=1
            ).is_success:
                return f"mock restarted as pid {proc.pid}"
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise BenchError("the Stripe mock did not come back after its restart")
