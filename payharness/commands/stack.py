"""``payharness stack up [--servers N] | status | down``: the live stack on this machine.

``up`` checks node, Redis and Postgres (clear errors when one is missing), installs the node
packages with ``npm ci`` when ``node_modules`` is missing, applies the migrations, starts the
Stripe mock (loopback only), N API servers on consecutive loopback ports and one reconciler
per variant served, waits until each is ready, and records pids, ports and logs under
``out/stack/``. ``down`` stops exactly the processes recorded there (checked by pid *and*
start time, so a recycled pid is never signalled). Redis and Postgres are not started or
stopped: they are the machine's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from payharness.paths import output_root

REPO = Path(__file__).resolve().parents[2]
MOCK_LAUNCHER = REPO / "live" / "stripe_mock.js"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def stack_dir() -> Path:
    d = output_root() / "stack"
    d.mkdir(parents=True, exist_ok=True)
    return d


def state_path() -> Path:
    return stack_dir() / "state.json"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("stack", help="start, inspect or stop the live stack")
    ssub = p.add_subparsers(dest="stack_command", metavar="STACK_COMMAND")
    up = ssub.add_parser("up", help="start the mock, N API servers and the reconciler")
    up.add_argument("--servers", type=int, default=3, help="API server processes (default 3)")
    up.add_argument("--base-port", type=int, default=8000, help="first server port (default 8000)")
    up.add_argument("--mock-port", type=int, default=12111, help="Stripe mock port (default 12111)")
    up.add_argument(
        "--variant",
        default="hardened",
        help="variant served: one name for all servers, or a comma list, one per server "
        "(e.g. seed,hardened,hardened)",
    )
    up.add_argument(
        "--stripe-api-base",
        default=None,
        help="use this Stripe API instead of starting the mock (stripe-mock, a test account)",
    )
    up.add_argument(
        "--stateless-provider",
        action="store_true",
        help="the provider cannot list charges: the audit counts the adapters' call logs",
    )
    up.add_argument("--reconcile-every", type=float, default=5.0, help="seconds (default 5)")
    up.add_argument("--no-reconciler", action="store_true")
    up.add_argument("--access-log", action="store_true", help="servers log every request")
    up.set_defaults(func=cmd_up)
    st = ssub.add_parser("status", help="show what `up` started and whether it is alive")
    st.set_defaults(func=cmd_status)
    down = ssub.add_parser("down", help="stop exactly what `up` started")
    down.set_defaults(func=cmd_down)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


# --- process bookkeeping ------------------------------------------------------------------


def proc_start_time(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat: with the pid, it identifies one process instance."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def is_ours(entry: dict[str, Any]) -> bool:
    pid = int(entry["pid"])
    return proc_start_time(pid) == entry.get("start_time") and not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def load_state() -> dict[str, Any] | None:
    path = state_path()
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def save_state(state: dict[str, Any]) -> None:
    tmp = state_path().with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(state_path())


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def spawn(
    name: str, cmd: list[str], env: dict[str, str], log: Path, **extra: Any
) -> dict[str, Any]:
    handle = log.open("ab")
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=env,
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


def stop_entries(entries: list[dict[str, Any]], timeout_s: float = STOP_TIMEOUT_S) -> list[str]:
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


# --- probes -------------------------------------------------------------------------------


def http_ok(url: str, *, auth: str | None = None, timeout_s: float = 2.0) -> bool:
    import httpx

    try:
        r = httpx.get(url, timeout=timeout_s, auth=(auth, "") if auth else None)
    except httpx.HTTPError:
        return False
    return r.status_code == 200


def wait_until(check: Any, entry: dict[str, Any], timeout_s: float = READY_TIMEOUT_S) -> bool:
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


def preflight(config: Any, need_node: bool) -> str | None:
    """None when Redis, Postgres (and node) are reachable; else a message saying what to do."""
    import psycopg
    import redis

    if need_node:
        if shutil.which("node") is None:
            return "node is not on PATH: install Node.js >= 18 to run the Stripe mock"
        if not (REPO / "node_modules" / "stripe-stateful-mock").exists():
            if shutil.which("npm") is None:
                return "node_modules is missing and npm is not on PATH: run `npm ci`"
            print("installing node packages: npm ci", flush=True)
            done = subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund"], cwd=REPO, timeout=600, check=False
            )
            if done.returncode != 0:
                return "`npm ci` failed; see its output above"
    try:
        if config.redis_url.startswith("redis+cluster://"):
            from redis.cluster import RedisCluster

            url = "redis://" + config.redis_url[len("redis+cluster://") :]
            client: Any = RedisCluster.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        else:
            client = redis.Redis.from_url(
                config.redis_url, socket_connect_timeout=2, socket_timeout=2
            )
        client.ping()
        client.close()
    except (redis.RedisError, OSError) as exc:
        return f"Redis is not reachable at {config.redis_url} (PAYHARNESS_REDIS_URL): {exc}"
    try:
        with psycopg.connect(config.database_url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return (
            f"Postgres is not reachable at {config.database_url} (PAYHARNESS_DATABASE_URL): "
            f"{str(exc).strip()}"
        )
    return None


# --- commands -----------------------------------------------------------------------------


def cmd_up(args: argparse.Namespace) -> int:
    import asyncio

    from core.variants import variant_named
    from live.config import ConfigError, LiveConfig
    from live.migrate import migrate

    existing = load_state()
    if existing and any(is_ours(e) for e in existing.get("processes", [])):
        print("stack: already up (see `payharness stack status`); run `stack down` first")
        return 1
    if args.servers < 1 or args.servers > 64:
        print("stack: --servers must be between 1 and 64", file=sys.stderr)
        return 2
    names = [v.strip() for v in args.variant.split(",") if v.strip()]
    if len(names) == 1:
        names = names * args.servers
    if len(names) != args.servers:
        print(f"stack: {len(names)} variants given for {args.servers} servers", file=sys.stderr)
        return 2
    try:
        for n in set(names):
            variant_named(n)
        base = LiveConfig.from_env()
        if args.stripe_api_base:
            base = base.with_changes(stripe_api_base=args.stripe_api_base)
        else:
            base = base.with_changes(stripe_api_base=f"http://127.0.0.1:{args.mock_port}")
        if args.stateless_provider:
            base = base.with_changes(stripe_lists_charges=False)
    except (ConfigError, ValueError) as exc:
        print(f"stack: {exc}", file=sys.stderr)
        return 2

    problem = preflight(base, need_node=args.stripe_api_base is None)
    if problem:
        print(f"stack: {problem}", file=sys.stderr)
        return 1
    try:
        applied = asyncio.run(migrate(base.database_url, base.db_schema))
    except Exception as exc:
        print(f"stack: migrations failed: {exc}", file=sys.stderr)
        return 1
    print(
        f"schema {base.db_schema}: {'applied ' + ', '.join(applied) if applied else 'up to date'}"
    )

    ports = [args.base_port + i for i in range(args.servers)]
    wanted = ports + ([args.mock_port] if args.stripe_api_base is None else [])
    busy = [p for p in wanted if not port_free(p)]
    if busy:
        print(f"stack: ports already in use on 127.0.0.1: {busy}", file=sys.stderr)
        return 1

    d = stack_dir()
    started: list[dict[str, Any]] = []
    state: dict[str, Any] = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "stripe_api_base": base.stripe_api_base,
        "servers": [f"http://127.0.0.1:{p}" for p in ports],
        "env": base.redacted_env(),
        "processes": started,
    }

    def fail(message: str, entry: dict[str, Any] | None = None) -> int:
        print(f"stack: {message}", file=sys.stderr)
        if entry is not None:
            print(
                f"--- last lines of {entry['log']} ---\n{log_tail(entry['log'])}", file=sys.stderr
            )
        for line in stop_entries(started):
            print(f"  {line}", file=sys.stderr)
        state_path().unlink(missing_ok=True)
        return 1

    env = {**os.environ}
    if args.stripe_api_base is None:
        entry = spawn(
            "stripe-mock",
            ["node", str(MOCK_LAUNCHER), str(args.mock_port)],
            env,
            d / "stripe-mock.log",
            port=args.mock_port,
        )
        started.append(entry)
        save_state(state)
        url = f"{base.stripe_api_base}/v1/charges?limit=1"
        if not wait_until(lambda: http_ok(url, auth=base.stripe_api_key), entry):
            return fail(f"the Stripe mock did not answer at {base.stripe_api_base}", entry)
    elif not http_ok(f"{base.stripe_api_base}/v1/charges?limit=1", auth=base.stripe_api_key):
        return fail(
            f"the Stripe API at {base.stripe_api_base} (--stripe-api-base) did not answer "
            "GET /v1/charges with 200: is it running, and is PAYHARNESS_STRIPE_API_KEY right?"
        )

    for i, (port, name) in enumerate(zip(ports, names, strict=True)):
        cfg = base.with_changes(variant=name)
        if base.stripe_call_log is None and not base.stripe_lists_charges:
            cfg = cfg.with_changes(stripe_call_log=str(d / f"calls-{i}.jsonl"))
        server_env = {**os.environ, **cfg.to_env()}
        cmd = [sys.executable, "-m", "payharness.commands.serve", "--port", str(port)]
        if args.access_log:
            cmd.append("--access-log")
        entry = spawn(
            f"server-{i}", cmd, server_env, d / f"server-{i}.log", port=port, variant=name
        )
        started.append(entry)
        save_state(state)
    for entry in [e for e in started if e["name"].startswith("server-")]:
        url = f"http://127.0.0.1:{entry['port']}/readyz"
        if not wait_until(lambda u=url: http_ok(u), entry):  # type: ignore[misc]
            return fail(f"{entry['name']} was not ready at {url}", entry)

    if not args.no_reconciler:
        for name in sorted(set(names)):
            cfg = base.with_changes(variant=name)
            cmd = [
                sys.executable, "-m", "payharness.commands.reconcile",
                "--every", str(args.reconcile_every), "--variant", name,
            ]  # fmt: skip
            entry = spawn(
                f"reconciler-{name}", cmd, {**os.environ, **cfg.to_env()},
                d / f"reconciler-{name}.log", variant=name,
            )  # fmt: skip
            started.append(entry)
            save_state(state)
        time.sleep(0.5)
        for entry in [e for e in started if e["name"].startswith("reconciler-")]:
            if not is_ours(entry):
                return fail(f"{entry['name']} exited at start", entry)

    save_state(state)
    print(f"stack up: {len(started)} processes; state and logs in {d}")
    for entry in started:
        where = f" port {entry['port']}" if "port" in entry else ""
        print(f"  {entry['name']:<22} pid {entry['pid']}{where}")
    print("servers: " + " ".join(state["servers"]))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    state = load_state()
    if state is None:
        print("stack: not up (no out/stack/state.json)")
        return 1
    all_ok = True
    print(f"stack started {state['started_at']}; provider {state['stripe_api_base']}")
    for entry in state["processes"]:
        alive = is_ours(entry)
        health = ""
        if alive and entry["name"].startswith("server-"):
            ready = http_ok(f"http://127.0.0.1:{entry['port']}/readyz")
            health = " ready" if ready else " NOT READY"
            all_ok = all_ok and ready
        where = f" port {entry['port']}" if "port" in entry else ""
        variant = f" [{entry['variant']}]" if "variant" in entry else ""
        word = "up" if alive else "DOWN"
        print(f"  {entry['name']:<22} pid {entry['pid']:<8} {word}{health}{where}{variant}")
        all_ok = all_ok and alive
    return 0 if all_ok else 1


def cmd_down(args: argparse.Namespace) -> int:
    state = load_state()
    if state is None:
        print("stack: nothing to stop (no out/stack/state.json)")
        return 0
    # Reverse order: reconcilers and servers before the mock they call.
    for line in stop_entries(list(reversed(state["processes"]))):
        print(f"  {line}")
    state_path().unlink(missing_ok=True)
    print("stack down")
    return 0
