"""The system under load: the live stack of ``payharness stack``, or the in-memory stub.

``LiveStack.ensure`` reuses a stack that is up (the run is fenced by its merchant prefix) or
brings one up for the run with its own Postgres schema and Redis key prefix (and, when asked,
its own throwaway ``redis-server``), and takes it down again afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from core.history import FinalState
from live.processes import is_ours, proc_start_time
from live.stack import StackOptions, StackUpError, bring_up, take_down
from live.stack_state import load_state, save_state
from loadtests.faults import FaultTargets, PrivateRedis, alive, wait_ready

REPO = Path(__file__).resolve().parents[1]


class Stack(Protocol):
    name: str

    @property
    def targets(self) -> tuple[str, ...]: ...

    def final_state(self) -> FinalState: ...

    def reconcile(self, timeout_s: float = 60.0) -> str: ...

    def unsettled(self, merchant_prefix: str) -> int: ...

    def fault_targets(self, merchant_prefix: str, log_dir: Path) -> FaultTargets | None: ...

    def process_groups(self) -> dict[str, list[int]]: ...

    def scrape_metrics(self) -> bytes | None: ...

    def heal(self) -> list[str]: ...

    def issue_keys(self, merchants: list[str]) -> dict[str, str]: ...

    def remove_keys(self) -> int: ...

    def close(self) -> None: ...


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ports_free(ports: list[int]) -> bool:
    for port in ports:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


# --- the live stack -------------------------------------------------------------------------


@dataclass(slots=True)
class LiveStack:
    """A stack started by ``live.stack.bring_up`` (state in ``out/stack/state.json``)."""

    state: dict[str, Any]
    started_here: bool
    private_redis: PrivateRedis | None = None
    env: dict[str, str] = field(default_factory=dict)
    name: str = "live"
    key_ids: list[str] = field(default_factory=list)
    """The API keys this run issued (removed by ``remove_keys``)."""

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(self.state["servers"])

    @property
    def config(self) -> Any:
        from live.config import LiveConfig

        return LiveConfig.from_env(unmasked(self.state["env"], self.env or os.environ))

    @property
    def variants(self) -> list[str]:
        names = {e.get("variant") for e in self.state["processes"] if "variant" in e}
        return sorted(n for n in names if n)

    def servers(self) -> dict[str, int]:
        return {
            f"http://127.0.0.1:{e['port']}": int(e["pid"])
            for e in self.state["processes"]
            if e["name"].startswith("server-")
        }

    def process_groups(self) -> dict[str, list[int]]:
        """The stack's processes by part, for the run's CPU shares (``loadtests.cpu_meter``)."""
        groups: dict[str, list[int]] = {"gateway": [], "mocks": []}
        for e in self.state["processes"]:
            part = "gateway" if e["name"].startswith(("server-", "reconciler-")) else "mocks"
            groups[part].append(int(e["pid"]))
        return groups

    def scrape_metrics(self) -> bytes | None:
        """One ``GET /metrics`` (the whole stack's, any server answers for all); None when no
        server answers it."""
        for url in self.targets:
            try:
                r = httpx.get(f"{url}/metrics", timeout=10)
            except httpx.HTTPError:
                continue
            if r.status_code == 200:
                return r.content
        return None

    # --- bring up / take down ---------------------------------------------------------------

    @classmethod
    def current(cls) -> LiveStack | None:
        state = load_state()
        if state and state.get("processes") and all(is_ours(e) for e in state["processes"]):
            return cls(state, started_here=False)
        return None

    @classmethod
    def ensure(
        cls,
        run_id: str,
        *,
        servers: int = 3,
        base_port: int = 8000,
        mock_port: int = 12111,
        variant: str = "hardened",
        variant_overrides: str = "",
        private_redis: bool = False,
        log_dir: Path,
        echo: Any = print,
    ) -> LiveStack:
        existing = cls.current()
        if existing is not None:
            echo(f"using the stack that is up: {' '.join(existing.targets)}")
            return existing
        slug = re.sub(r"[^a-z0-9_]", "_", run_id.lower())[-40:]
        env = {
            **os.environ,
            "PAYHARNESS_DB_SCHEMA": f"lt_{slug}",
            "PAYHARNESS_REDIS_PREFIX": f"lt:{slug}:",
        }
        if variant_overrides:
            env["PAYHARNESS_VARIANT_OVERRIDES"] = variant_overrides
        redis_proc: PrivateRedis | None = None
        if private_redis:
            redis_proc = PrivateRedis(free_port(), log_dir).start()
            env["PAYHARNESS_REDIS_URL"] = redis_proc.url
        options = StackOptions(
            servers=servers, base_port=base_port, mock_port=mock_port, variant=variant
        )
        echo(
            f"bringing the stack up: --servers {servers} --base-port {base_port} "
            f"--mock-port {mock_port} --variant {variant}"
        )
        try:
            bring_up(options, env, echo=echo)
        except StackUpError as exc:
            if redis_proc is not None:
                redis_proc.stop()
            _drop_schema(env)
            raise StackError(f"stack up failed:\n{exc}") from None
        stack = cls.current()
        if stack is None:
            raise StackError("stack up returned but no live stack is recorded")
        stack.started_here = True
        stack.private_redis = redis_proc
        stack.env = env
        return stack

    def close(self) -> None:
        """Take down what this run brought up (stack and its private Redis, schema dropped)."""
        if not self.started_here:
            return
        take_down(self.env or os.environ)
        _drop_schema(self.state["env"])
        self._delete_own_keys()
        if self.private_redis is not None:
            self.private_redis.stop()

    def _delete_own_keys(self) -> None:
        """Delete the Redis keys under the run's own prefix (``lt:…:``, set by ``ensure``)."""
        cfg = self.config
        if not cfg.redis_prefix.startswith("lt:") or self.private_redis is not None:
            return
        from loadtests.faults import FaultTargets, flush_redis

        try:
            flush_redis(FaultTargets({}, cfg.redis_url, cfg.redis_prefix + "*", ""))
        except Exception as exc:  # leave them (they expire), say so
            print(f"could not delete keys {cfg.redis_prefix}*: {exc}", file=sys.stderr)

    # --- the run's merchants' API keys -----------------------------------------------------

    def issue_keys(self, merchants: list[str]) -> dict[str, str]:
        """One API key per merchant in the stack's schema: ``{merchant: token}``."""
        from live.merchant_keys import add_key

        cfg = self.config
        tokens: dict[str, str] = {}
        for merchant in merchants:
            issued = add_key(cfg.database_url, cfg.db_schema, merchant)
            self.key_ids.append(issued.key_id)
            tokens[merchant] = issued.token
        return tokens

    def remove_keys(self) -> int:
        """Delete the keys this run issued (exactly those ids); how many were removed."""
        from live.merchant_keys import remove_keys

        if not self.key_ids:
            return 0
        cfg = self.config
        removed = remove_keys(cfg.database_url, cfg.db_schema, self.key_ids)
        self.key_ids.clear()
        return removed

    # --- after the load -------------------------------------------------------------------

    def final_state(self) -> FinalState:
        from live.audit_source import live_final_state

        return asyncio.run(live_final_state(self.config, variant=None))

    def has_reconciler(self) -> bool:
        """The stack runs its own reconciler (``payharness reconcile --every``)."""
        return any(
            e["name"].startswith("reconciler-") and is_ours(e) for e in self.state["processes"]
        )

    def reconcile(self, timeout_s: float = 60.0) -> str:
        from live.reconciler import reconcile_once
        from live.transport import LiveTransport

        async def once() -> str:
            out = []
            for name in self.variants or [self.config.variant]:
                cfg = self.config.with_changes(variant=name)
                transport = LiveTransport(cfg, cfg.resolve_variant())
                await transport.open()
                try:
                    report = await asyncio.wait_for(reconcile_once(transport), timeout_s)
                    out.append(f"{name}: {report.summary()}")
                except TimeoutError:
                    out.append(
                        f"{name}: pass cut at {timeout_s:.0f}s (the stack's own "
                        "reconciler carries on)"
                    )
                finally:
                    await transport.close()
            return "; ".join(out)

        return asyncio.run(once())

    def unsettled(self, merchant_prefix: str) -> int:
        import psycopg
        from psycopg import sql

        cfg = self.config
        with psycopg.connect(cfg.database_url, connect_timeout=5) as conn:
            row = conn.execute(
                sql.SQL(
                    "SELECT count(*) FROM {}.payments WHERE merchant LIKE %s "
                    "AND state IN ('PENDING', 'PROCESSING', 'RECONCILE')"
                ).format(sql.Identifier(cfg.db_schema)),
                (merchant_prefix + "%",),
            ).fetchone()
        return int(row[0]) if row else 0

    def fault_targets(self, merchant_prefix: str, log_dir: Path) -> FaultTargets:
        cfg = self.config
        port = 5432
        match = re.search(r":(\d+)/", cfg.database_url)
        if match:
            port = int(match.group(1))
        return FaultTargets(
            servers=self.servers(),
            redis_url=cfg.redis_url,
            redis_pattern=f"{cfg.redis_prefix}*{merchant_prefix}-*",
            database_url=cfg.database_url,
            postgres_port=port,
            own_redis=self.private_redis,
            log_dir=log_dir,
        )

    def adopt_restarts(self, restarted: dict[str, int]) -> None:
        """Record servers the faults restarted in the stack's state, so ``stack down`` stops
        the new processes, not the dead pids."""
        if not restarted:
            return
        state = load_state() or self.state
        for entry in state["processes"]:
            url = f"http://127.0.0.1:{entry.get('port')}"
            if entry["name"].startswith("server-") and url in restarted:
                entry["pid"] = restarted[url]
                entry["start_time"] = proc_start_time(restarted[url])
        save_state(state)
        self.state = state

    def heal(self) -> list[str]:
        """Every server answers /readyz again (restart any that is down)."""
        from loadtests.faults import ProcessImage

        notes = []
        for url, pid in self.servers().items():
            if alive(pid) and wait_ready(url, 20):
                continue
            entry = next(e for e in self.state["processes"] if url.endswith(f":{e.get('port')}"))
            recorded = unmasked(self.state["env"], self.env or os.environ)
            env = {**os.environ, **recorded, "PAYHARNESS_VARIANT": entry["variant"]}
            if "metrics_dir" in self.state:
                env["PROMETHEUS_MULTIPROC_DIR"] = self.state["metrics_dir"]
            image = ProcessImage(tuple(entry["cmd"]), env, str(REPO))
            proc = image.start(Path(entry["log"]))
            self.adopt_restarts({url: proc.pid})
            ok = wait_ready(url, 30)
            notes.append(f"{url} was down; restarted as pid {proc.pid}" + ("" if ok else " (!)"))
        return notes


class StackError(RuntimeError):
    pass


def unmasked(recorded: dict[str, str], own: Any) -> dict[str, str]:
    """The stack's recorded environment with masked secrets (URL passwords, API key) taken
    from ``own`` under the same name, as ``LiveConfig.from_stack_state`` does."""
    from live.config import REDACTED

    out = dict(recorded)
    for name, value in recorded.items():
        if REDACTED in value:
            if name not in own:
                raise StackError(f"{name} is masked in the stack's state; set it in the env")
            out[name] = own[name]
    return out


def _drop_schema(env: dict[str, str]) -> None:
    """Drop the run's own schema (``lt_…``, created for this run); never any other."""
    from live.config import LiveConfig
    from live.migrate import drop_schema

    cfg = LiveConfig.from_env(env)
    if not cfg.db_schema.startswith("lt_"):
        return
    try:
        asyncio.run(drop_schema(cfg.database_url, cfg.db_schema))
    except Exception as exc:  # leave it, say so
        print(f"could not drop schema {cfg.db_schema}: {exc}", file=sys.stderr)


# --- the in-memory stub ---------------------------------------------------------------------


@dataclass(slots=True)
class StubStack:
    """``loadtests.stub`` in a subprocess: the HTTP contract over the in-memory models."""

    proc: subprocess.Popen[bytes]
    ports: list[int]
    name: str = "stub"

    @classmethod
    def start(cls, servers: int = 2, log_dir: Path | None = None) -> StubStack:
        ports = [free_port() for _ in range(servers)]
        log = open((log_dir or Path(".")) / "stub.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "loadtests.stub", "--ports", ",".join(map(str, ports))],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        stack = cls(proc, ports)
        for url in stack.targets:
            if not wait_ready(url, 30):
                stack.close()
                raise StackError(f"the stub did not answer at {url}")
        return stack

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(f"http://127.0.0.1:{p}" for p in self.ports)

    def final_state(self) -> FinalState:
        from loadtests.stub import final_from_json

        return final_from_json(httpx.get(self.targets[0] + "/_stub/final", timeout=60).json())

    def reconcile(self, timeout_s: float = 60.0) -> str:
        return json.dumps(httpx.post(self.targets[0] + "/_stub/reconcile", timeout=60).json())

    def unsettled(self, merchant_prefix: str) -> int:
        final = self.final_state()
        return sum(
            1
            for p in final.payments
            if p.merchant.startswith(merchant_prefix)
            and str(p.state) in ("PENDING", "PROCESSING", "RECONCILE")
        )

    def fault_targets(self, merchant_prefix: str, log_dir: Path) -> FaultTargets | None:
        return None

    def process_groups(self) -> dict[str, list[int]]:
        return {"gateway": [self.proc.pid], "mocks": []}

    def scrape_metrics(self) -> bytes | None:
        """The stub has no ``/metrics``."""
        return None

    def heal(self) -> list[str]:
        return []

    def issue_keys(self, merchants: list[str]) -> dict[str, str]:
        """The stub authenticates nobody (it has no key store): no keys."""
        return {}

    def remove_keys(self) -> int:
        return 0

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def wait_for(predicate: Any, timeout_s: float, every_s: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every_s)
    return False
