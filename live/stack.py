"""The live stack on this machine: bring it up, report on it, take it down.

``bring_up`` checks node, Redis and Postgres (clear errors when one is missing), installs the
node packages with ``npm ci`` when ``node_modules`` is missing, applies the migrations, starts
the Stripe mock (loopback only), N API servers on consecutive loopback ports and one
reconciler per variant served, waits until each is ready, and records pids, ports and logs
under ``<output root>/stack/``. ``take_down`` stops exactly the processes recorded there
(checked by pid *and* start time, so a recycled pid is never signalled). Redis and Postgres
are not started or stopped: they are the machine's.

The CLI (``payharness stack``), the load runs and the bench all call these functions, with
the environment the stack's processes are to get.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from core.variants import variant_named
from live.config import ConfigError, LiveConfig
from live.metrics import MULTIPROC_ENV
from live.migrate import migrate
from live.preflight import preflight
from live.processes import (
    MOCK_LAUNCHER,
    ProcessEntry,
    http_ok,
    is_ours,
    log_tail,
    port_free,
    spawn,
    stop_entries,
    wait_until,
)
from live.stack_state import StackState, load_state, save_state, stack_dir, state_path

Echo = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class StackOptions:
    """What ``stack up`` starts (the CLI's options, with its defaults)."""

    servers: int = 3
    base_port: int = 8000
    mock_port: int = 12111
    variant: str = "hardened"
    """One variant for every server, or a comma list with one per server."""
    stripe_api_base: str | None = None
    """Use this Stripe API instead of starting the mock."""
    stateless_provider: bool = False
    reconcile_every_s: float = 5.0
    provider: str | None = None
    """``stripe``, ``paypal`` or ``paypal-wait``; None: ``PAYHARNESS_PROVIDER`` (default stripe).
    PayPal starts the stand-in (``live/paypal_standin``) on ``paypal_port`` instead of the
    Stripe mock, and the servers write call logs for the audit (its search lags)."""
    paypal_port: int = 12112
    paypal_search_lag_ms: int | None = None
    """The stand-in's transaction-search lag; None: the contract's (3 h)."""
    reconciler: bool = True
    access_log: bool = False


class StackUpError(RuntimeError):
    """The stack could not be brought up; whatever had started was stopped again."""


class StackUsageError(StackUpError):
    """The options or the environment are wrong: nothing was started."""


class StackAlreadyUp(StackUpError):
    """A stack recorded in the output folder is still running."""


@dataclass(frozen=True, slots=True)
class StackStatus:
    lines: list[str]
    ok: bool


def bring_up(options: StackOptions, env: Mapping[str, str], echo: Echo = print) -> StackState:
    """Start the stack described by ``options``; ``env`` is the environment its processes get
    (and where its settings and output folder are read). Returns the recorded state."""
    existing = load_state(env)
    if existing and any(is_ours(e) for e in existing.get("processes", [])):
        raise StackAlreadyUp("already up (see `payharness stack status`); run `stack down` first")
    names = _variants_per_server(options)
    base = _provider_config(options, env)
    need_node = options.stripe_api_base is None and not base.is_paypal
    problem = preflight(base, need_node=need_node, echo=echo)
    if problem:
        raise StackUpError(problem)
    _migrate(base, echo)
    ports = [options.base_port + i for i in range(options.servers)]
    if base.is_paypal:
        wanted = [*ports, options.paypal_port]
    else:
        wanted = ports + ([options.mock_port] if options.stripe_api_base is None else [])
    busy = [p for p in wanted if not port_free(p)]
    if busy:
        raise StackUpError(f"ports already in use on 127.0.0.1: {busy}")

    started: list[ProcessEntry] = []
    metrics = fresh_metrics_dir(env)
    env = {**env, MULTIPROC_ENV: str(metrics)}
    state: StackState = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "stripe_api_base": base.paypal_api_base if base.is_paypal else base.stripe_api_base,
        "servers": [f"http://127.0.0.1:{p}" for p in ports],
        "env": base.redacted_env(),
        "metrics_dir": str(metrics),
        "processes": started,
    }
    launch = _Launch(options, env, base, state, stack_dir(env))
    try:
        launch.provider()
        launch.servers(ports, names)
        if options.reconciler:
            launch.reconcilers(sorted(set(names)))
    except StackUpError as exc:
        lines = [str(exc), *(f"  {line}" for line in stop_entries(started))]
        state_path(env).unlink(missing_ok=True)
        raise StackUpError("\n".join(lines)) from None
    save_state(state, env)
    return state


def fresh_metrics_dir(env: Mapping[str, str]) -> Path:
    """The stack's ``PROMETHEUS_MULTIPROC_DIR``, emptied: every server and reconciler writes
    its metric files there, so any server's ``/metrics`` shows the whole stack, and nothing of
    an earlier stack's processes is summed in."""
    folder = stack_dir(env) / "metrics"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def up_summary(state: StackState, env: Mapping[str, str]) -> list[str]:
    """What ``stack up`` prints once everything answers."""
    processes = state["processes"]
    lines = [f"stack up: {len(processes)} processes; state and logs in {stack_dir(env)}"]
    for entry in processes:
        where = f" port {entry['port']}" if "port" in entry else ""
        lines.append(f"  {entry['name']:<22} pid {entry['pid']}{where}")
    lines.append("servers: " + " ".join(state["servers"]))
    lines.append(
        "payments need a merchant's API key: KEY=$(payharness merchants add NAME), then "
        '-H "Authorization: Bearer $KEY" (same PAYHARNESS_DB_SCHEMA)'
    )
    return lines


def stack_status(env: Mapping[str, str]) -> StackStatus:
    """Each recorded process: alive (the same instance) and, for servers, ready."""
    state = load_state(env)
    if state is None:
        return StackStatus(["stack: not up (no out/stack/state.json)"], ok=False)
    all_ok = True
    lines = [f"stack started {state['started_at']}; provider {state['stripe_api_base']}"]
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
        lines.append(f"  {entry['name']:<22} pid {entry['pid']:<8} {word}{health}{where}{variant}")
        all_ok = all_ok and alive
    return StackStatus(lines, all_ok)


def take_down(env: Mapping[str, str]) -> list[str]:
    """Stop exactly what ``bring_up`` recorded and forget it."""
    state = load_state(env)
    if state is None:
        return ["stack: nothing to stop (no out/stack/state.json)"]
    # Reverse order: reconcilers and servers before the mock they call.
    lines = [f"  {line}" for line in stop_entries(list(reversed(state["processes"])))]
    state_path(env).unlink(missing_ok=True)
    return [*lines, "stack down"]


# --- the steps of bring_up --------------------------------------------------------------------


def _variants_per_server(options: StackOptions) -> list[str]:
    if options.servers < 1 or options.servers > 64:
        raise StackUsageError("--servers must be between 1 and 64")
    names = [v.strip() for v in options.variant.split(",") if v.strip()]
    if len(names) == 1:
        names = names * options.servers
    if len(names) != options.servers:
        raise StackUsageError(f"{len(names)} variants given for {options.servers} servers")
    try:
        for name in set(names):
            variant_named(name)
    except ValueError as exc:
        raise StackUsageError(str(exc)) from None
    return names


def _provider_config(options: StackOptions, env: Mapping[str, str]) -> LiveConfig:
    """The settings from ``env``, pointed at the provider the stack will use."""
    try:
        base = LiveConfig.from_env(env)
        api_base = options.stripe_api_base or f"http://127.0.0.1:{options.mock_port}"
        base = base.with_changes(stripe_api_base=api_base)
        if options.stateless_provider:
            base = base.with_changes(stripe_lists_charges=False)
        if options.provider is not None:
            base = base.with_changes(provider=options.provider)
        if base.is_paypal:
            base = base.with_changes(
                paypal_api_base=f"http://127.0.0.1:{options.paypal_port}",
                stripe_lists_charges=False,
            )
    except (ConfigError, ValueError) as exc:
        raise StackUsageError(str(exc)) from None
    return base


def _migrate(base: LiveConfig, echo: Echo) -> None:
    try:
        applied = asyncio.run(migrate(base.database_url, base.db_schema))
    except Exception as exc:
        raise StackUpError(f"migrations failed: {exc}") from exc
    echo(f"schema {base.db_schema}: {'applied ' + ', '.join(applied) if applied else 'up to date'}")


@dataclass(slots=True)
class _Launch:
    """Starts the stack's processes one kind at a time, recording each as soon as it runs
    (so a failure part-way stops exactly what had started)."""

    options: StackOptions
    env: Mapping[str, str]
    base: LiveConfig
    state: StackState
    folder: Path

    def _record(self, entry: ProcessEntry) -> ProcessEntry:
        self.state["processes"].append(entry)
        save_state(self.state, self.env)
        return entry

    def provider(self) -> None:
        """Start the mock and wait for it, or check that the given provider answers."""
        if self.base.is_paypal:
            self.paypal_standin()
            return
        url = f"{self.base.stripe_api_base}/v1/charges?limit=1"
        key = self.base.stripe_api_key
        if self.options.stripe_api_base is not None:
            if not http_ok(url, auth=key):
                raise StackUpError(
                    f"the Stripe API at {self.base.stripe_api_base} (--stripe-api-base) did not "
                    "answer GET /v1/charges with 200: is it running, and is "
                    "PAYHARNESS_STRIPE_API_KEY right?"
                )
            return
        port = self.options.mock_port
        entry = self._record(
            spawn(
                "stripe-mock",
                ["node", str(MOCK_LAUNCHER), str(port)],
                self.env,
                self.folder / "stripe-mock.log",
                port=port,
            )
        )
        if not wait_until(lambda: http_ok(url, auth=key), entry):
            raise _failed(f"the Stripe mock did not answer at {self.base.stripe_api_base}", entry)

    def paypal_standin(self) -> None:
        """Start the PayPal stand-in (loopback only) and wait until it answers."""
        port = self.options.paypal_port
        cmd = [sys.executable, "-m", "live.paypal_standin", "--port", str(port)]
        cmd += ["--simultaneous", "wait" if self.base.provider == "paypal-wait" else "fail"]
        cmd += ["--client-id", self.base.paypal_client_id]
        if self.options.paypal_search_lag_ms is not None:
            cmd += ["--search-lag-ms", str(self.options.paypal_search_lag_ms)]
        env = {**self.env, "PAYHARNESS_PAYPAL_CLIENT_SECRET": self.base.paypal_client_secret}
        log = self.folder / "paypal-standin.log"
        entry = self._record(spawn("paypal-standin", cmd, env, log, port=port))
        url = f"{self.base.paypal_api_base}/_standin/healthz"
        if not wait_until(partial(http_ok, url), entry):
            raise _failed(f"the PayPal stand-in did not answer at {url}", entry)

    def servers(self, ports: list[int], names: list[str]) -> None:
        """Start every server at once (imports dominate start-up), then wait for each."""
        for i, (port, name) in enumerate(zip(ports, names, strict=True)):
            cfg = self.base.with_changes(variant=name)
            if self.base.stripe_call_log is None and not self.base.stripe_lists_charges:
                cfg = cfg.with_changes(stripe_call_log=str(self.folder / f"calls-{i}.jsonl"))
            cmd = [sys.executable, "-m", "payharness.commands.serve", "--port", str(port)]
            if self.options.access_log:
                cmd.append("--access-log")
            env = {**self.env, **cfg.to_env()}
            log = self.folder / f"server-{i}.log"
            self._record(spawn(f"server-{i}", cmd, env, log, port=port, variant=name))
        for entry in self._named("server-"):
            url = f"http://127.0.0.1:{entry['port']}/readyz"
            if not wait_until(partial(http_ok, url), entry):
                raise _failed(f"{entry['name']} was not ready at {url}", entry)

    def reconcilers(self, variants: list[str]) -> None:
        """One ``payharness reconcile --every`` per variant served; each must survive start-up."""
        for name in variants:
            cfg = self.base.with_changes(variant=name)
            cmd = [
                sys.executable, "-m", "payharness.commands.reconcile",
                "--every", str(self.options.reconcile_every_s), "--variant", name,
            ]  # fmt: skip
            env = {**self.env, **cfg.to_env()}
            log = self.folder / f"reconciler-{name}.log"
            self._record(spawn(f"reconciler-{name}", cmd, env, log, variant=name))
        time.sleep(0.5)
        for entry in self._named("reconciler-"):
            if not is_ours(entry):
                raise _failed(f"{entry['name']} exited at start", entry)

    def _named(self, prefix: str) -> list[ProcessEntry]:
        return [e for e in self.state["processes"] if e["name"].startswith(prefix)]


def _failed(message: str, entry: ProcessEntry) -> StackUpError:
    return StackUpError(
        f"{message}\n--- last lines of {entry['log']} ---\n{log_tail(entry['log'])}"
    )
