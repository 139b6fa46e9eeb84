"""One load run end to end: stack, Locust (headless, distributed or with its UI), live
faults, healing, reconciliation, the settle round and the audit; the run folder it leaves is
what ``reports.load.build_report`` renders (the CLI calls it after the run).

Everything is bounded: Locust is stopped by its shape at ``duration`` and killed if it
overruns; faults stop before the end; reconciliation and the settle round have deadlines.
"""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from core.domain import PaymentRequest
from core.history import Event
from live.paths import output_root
from loadtests.audit import AuditResult, audit
from loadtests.cpu_meter import CpuMeter, CpuWindow, children_of
from loadtests.faults import SERVER_SIDE, FaultInjector, FaultLog
from loadtests.history import ProcessHistory, load_reads, merge_histories
from loadtests.settings import (
    DEFAULT_WEIGHTS,
    ENV,
    FAULT_KINDS,
    SHAPES,
    LoadSettings,
    new_run_id,
)
from loadtests.stack import LiveStack, Stack, StackError, StubStack
from loadtests.wire import (
    parse_answer,
    request_body,
    request_headers,
    request_record,
    response_record,
    transport_error,
)

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
METRICS_FILE = "metrics.prom"
"""The stack's ``/metrics`` as Locust stopped (before healing and the settle round)."""


@dataclass(slots=True)
class LoadOptions:
    users: int = 20
    spawn_rate: float = 10.0
    duration_s: float = 60.0
    shape: str = "steady"
    faults: list[str] = field(default_factory=list)
    workers: int = 0
    ui: bool = False
    servers: int = 3
    base_port: int = 8000
    mock_port: int = 12111
    variant: str = "hardened"
    variant_overrides: str = ""
    stub: bool = False
    pace_s: float = 1.0
    timeout_s: float = 5.0
    weights: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    mock_fault_rate: float = 0.01
    step_users: int = 0
    step_s: float = 15.0
    slo_ms: float = 250.0
    fault_every_s: tuple[float, float] = (6.0, 12.0)
    settle_timeout_s: float = 240.0
    settle_sample: int = 300
    keep_stack: bool = False
    out_dir: Path | None = None
    run_id: str = ""
    seed: int | None = None


@dataclass(slots=True)
class LoadResult:
    run_dir: Path
    audit: AuditResult | None
    exit_code: int
    notes: list[str] = field(default_factory=list)


def parse_weights(text: str) -> dict[str, int]:
    weights = dict(DEFAULT_WEIGHTS)
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        if name not in weights:
            raise ValueError(f"unknown user kind {name!r}; known: {', '.join(weights)}")
        weights[name] = int(value)
    return weights


def parse_faults(text: str) -> list[str]:
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    if kinds == ["all"]:
        return list(FAULT_KINDS)
    bad = [k for k in kinds if k not in FAULT_KINDS]
    if bad:
        raise ValueError(f"unknown fault kind(s) {bad}; known: {', '.join(FAULT_KINDS)}, all")
    return kinds


# --- Locust -----------------------------------------------------------------------------------


def locust_commands(
    settings_path: Path, run_dir: Path, opts: LoadOptions, master_port: int
) -> list[list[str]]:
    """The Locust processes: one local runner, or a master and ``workers`` workers."""
    base = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--ph-settings",
        str(settings_path),
        "--host",
        "http://127.0.0.1",
        "--stop-timeout",
        "15",
        "--loglevel",
        "WARNING",
    ]
    main = [
        *base,
        "--csv",
        str(run_dir / "locust"),
        "--csv-full-history",
        "--logfile",
        str(run_dir / "locust.log"),
    ]
    if opts.ui:
        main += ["--web-host", "127.0.0.1", "--autostart", "--autoquit", "30"]
    else:
        main += ["--headless", "--only-summary"]
    if opts.workers <= 0:
        return [main]
    main += [
        "--master",
        "--master-bind-host",
        "127.0.0.1",
        "--master-bind-port",
        str(master_port),
        "--expect-workers",
        str(opts.workers),
    ]
    worker = [
        *base,
        "--worker",
        "--master-host",
        "127.0.0.1",
        "--master-port",
        str(master_port),
        "--logfile",
        str(run_dir / "locust-worker.log"),
    ]
    return [main] + [worker for _ in range(opts.workers)]


def last_stats(run_dir: Path) -> dict[str, str] | None:
    path = run_dir / "locust_stats_history.csv"
    if not path.exists():
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            rows = [r for r in csv.DictReader(handle) if r.get("Name") == "Aggregated"]
    except (OSError, csv.Error):
        return None
    return rows[-1] if rows else None


def progress_line(
    elapsed: float, duration: float, stats: dict[str, str] | None, injector: FaultInjector | None
) -> str:
    s = stats or {}
    faults = ""
    if injector is not None:
        active = f" [{injector.active}]" if injector.active else ""
        faults = f" | faults {len(injector.injected)}{active}"
    return (
        f"{elapsed:5.0f}/{duration:.0f}s | users {s.get('User Count', '-'):>4} | "
        f"req/s {float(s.get('Requests/s', 0) or 0):7.1f} | "
        f"fail/s {float(s.get('Failures/s', 0) or 0):5.1f} | "
        f"p50 {s.get('50%', '-'):>5} ms | p99 {s.get('99%', '-'):>5} ms | "
        f"total {s.get('Total Request Count', '0'):>7}{faults}"
    )


def run_locust(
    settings: LoadSettings,
    settings_path: Path,
    run_dir: Path,
    opts: LoadOptions,
    injector: FaultInjector | None,
    echo: Callable[[str], None],
    stack_groups: Callable[[], dict[str, list[int]]] = dict,
) -> tuple[int, CpuWindow]:
    """Run Locust to its end; its exit code and the CPU each part used meanwhile."""
    from loadtests.stack import free_port

    env = {**os.environ, ENV: str(settings_path), "PYTHONPATH": _pythonpath()}
    cmds = locust_commands(settings_path, run_dir, opts, free_port())
    procs: list[subprocess.Popen[bytes]] = []
    out = open(run_dir / "locust.out", "ab")  # noqa: SIM115
    try:
        for n, cmd in enumerate(cmds):
            procs.append(
                subprocess.Popen(
                    cmd,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
            if n == 0 and opts.ui:
                echo("Locust's web UI: http://127.0.0.1:8089 (the run starts by itself)")
        locust_pids = [p.pid for p in procs]

        def groups() -> dict[str, list[int]]:
            parts = stack_groups()
            restarted = list(injector.targets.restarted.values()) if injector else []
            parts["gateway"] = [*parts.get("gateway", []), *restarted]
            parts["harness"] = [os.getpid(), *children_of(locust_pids)]
            return parts

        meter = CpuMeter(groups).start()
        started = time.monotonic()
        if injector is not None:
            injector.start()
        deadline = started + opts.duration_s + 60 + (30 if opts.ui else 0)
        tty = sys.stdout.isatty()
        last_print = 0.0
        while procs[0].poll() is None:
            now = time.monotonic()
            if now > deadline:
                echo("\nLocust overran its deadline; stopping it")
                break
            line = progress_line(now - started, opts.duration_s, last_stats(run_dir), injector)
            if tty:
                sys.stdout.write("\r" + line[:160])
                sys.stdout.flush()
            elif now - last_print >= 5:
                echo(line)
                last_print = now
            time.sleep(1.0)
        if tty:
            sys.stdout.write("\n")
        window = meter.stop()
        code = procs[0].poll()
        return (-1 if code is None else code), window
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        out.close()


def _pythonpath() -> str:
    root = str(Path(__file__).resolve().parents[1])
    old = os.environ.get("PYTHONPATH", "")
    return root + (os.pathsep + old if old else "")


# --- after the load -------------------------------------------------------------------------


def first_requests(
    history: Path,
) -> tuple[dict[tuple[str, str], Event], dict[tuple[str, str], str]]:
    """Each key's first request, and the last outcome it was told."""
    first: dict[tuple[str, str], Event] = {}
    last: dict[tuple[str, str], str] = {}
    with open(history, encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            mk = (row["merchant"], row["key"])
            if row["kind"] == "request" and mk not in first:
                first[mk] = Event.from_dict(row)
            elif row["kind"] == "response":
                last[mk] = row["outcome"]
    return first, last


def settle_round(
    stack: Stack,
    settings: LoadSettings,
    run_dir: Path,
    keys_with_rows: set[tuple[str, str]],
    opts: LoadOptions,
    echo: Callable[[str], None],
) -> int:
    """After healing and reconciliation: retry keys with their first payload, so E5 can check
    that a retry gets the final answer. Every key whose last answer was not final is retried,
    plus a random sample of the others (``settle_sample``)."""
    merged = merge_histories(run_dir)
    first, last = first_requests(merged)
    pending = [
        mk for mk in keys_with_rows if mk in first and last.get(mk) not in ("paid", "failed")
    ]
    others = [mk for mk in keys_with_rows if mk in first and mk not in set(pending)]
    rng = random.Random(opts.seed)
    chosen = pending + rng.sample(others, min(len(others), opts.settle_sample))
    hist = ProcessHistory(run_dir, settings.t0_ms, tag="settle")
    hist.record(Event(t=hist.now(), kind="phase", detail="settle"))
    targets = list(stack.targets)
    client = httpx.Client(timeout=30.0)

    def one(mk: tuple[str, str]) -> None:
        ev = first[mk]
        request = PaymentRequest(ev.merchant, ev.order, ev.amount, ev.currency, ev.source, ev.key)
        headers = request_headers(request, settings.auth_for(ev.merchant))
        target = rng.choice(targets)
        attempt = hist.next_attempt()
        hist.record(request_record(hist.now(), attempt, "settle", request, target))
        started = time.perf_counter()
        try:
            r = client.post(f"{target}/payments", json=request_body(request), headers=headers)
            answer, payment = parse_answer(
                r.status_code, dict(r.headers), r.text, (time.perf_counter() - started) * 1000
            )
        except httpx.HTTPError as exc:
            answer, payment = transport_error(type(exc).__name__, 0.0), {}
        hist.record(response_record(hist.now(), attempt, "settle", request, answer, payment))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, chosen))
    client.close()
    hist.close()
    echo(f"settle round: {len(chosen)} keys retried ({len(pending)} without a final answer)")
    return len(chosen)


def reconcile_until_settled(
    stack: Stack, prefix: str, timeout_s: float, echo: Callable[[str], None]
) -> int:
    """Reconcile until none of the run's payments is PENDING/PROCESSING/RECONCILE, or the
    deadline (the variants resolve stale rows only after ``stale_after_ms``)."""
    deadline = time.monotonic() + timeout_s
    left = -1
    # A stack with its own reconciler gets one pass from here, then is left to it: two
    # reconcilers doing provider lookups at once only slow each other down.
    own = bool(getattr(stack, "has_reconciler", lambda: False)())
    passes = 0
    while True:
        if passes == 0 or not own:
            try:
                budget = max(5.0, min(60.0, deadline - time.monotonic()))
                echo("reconcile: " + stack.reconcile(budget))
            except Exception as exc:
                echo(f"reconcile failed: {exc!r}")
        passes += 1
        left = stack.unsettled(prefix)
        if left == 0 or time.monotonic() > deadline:
            break
        who = "the stack's reconciler" if own else "the next pass"
        echo(f"  {left} payments of the run still unsettled; waiting for {who}")
        time.sleep(5)
    return left


def run_load(opts: LoadOptions, echo: Callable[[str], None] = print) -> LoadResult:
    if opts.shape not in SHAPES:
        raise ValueError(f"unknown shape {opts.shape!r}; known: {', '.join(SHAPES)}")
    run_id = opts.run_id or new_run_id()
    run_dir = (opts.out_dir or output_root() / "load") / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    server_faults = [k for k in opts.faults if k in SERVER_SIDE]

    stack: Stack
    if opts.stub:
        stack = StubStack.start(max(2, opts.servers), run_dir)
    else:
        stack = LiveStack.ensure(
            run_id,
            servers=opts.servers,
            base_port=opts.base_port,
            mock_port=opts.mock_port,
            variant=opts.variant,
            private_redis="redis-restart" in opts.faults,
            log_dir=run_dir,
            echo=echo,
        )
    settings: LoadSettings | None = None
    try:
        settings = LoadSettings(
            run_id=run_id,
            targets=stack.targets,
            history_dir=str(run_dir),
            weights=opts.weights,
            pace_s=opts.pace_s,
            timeout_s=opts.timeout_s,
            mock_fault_rate=opts.mock_fault_rate if "mock" in opts.faults else 0.0,
            shape=opts.shape,
            users=opts.users,
            spawn_rate=opts.spawn_rate,
            duration_s=opts.duration_s,
            step_users=opts.step_users,
            step_s=opts.step_s,
            slo_ms=opts.slo_ms,
        )
        settings = settings.with_(
            api_keys=stack.issue_keys([settings.merchant(i) for i in range(settings.merchants)])
        )
        settings_path = settings.save(run_dir / "settings.json")
        if settings.api_keys:
            echo(f"issued {len(settings.api_keys)} API keys for the run's merchants")
        prefix = settings.merchant_prefix
        injector: FaultInjector | None = None
        targets = stack.fault_targets(prefix, run_dir) if server_faults else None
        if server_faults and targets is None:
            notes.append(f"faults {server_faults} need the live stack; not injected")
        log = FaultLog(run_dir / "faults.jsonl", settings.t0_ms)
        if "mock" in opts.faults:
            log.window(
                "mock",
                0,
                int(opts.duration_s * 1000),
                f"{settings.mock_fault_rate:.0%} of payments use tok_500/tok_429",
            )
        if targets is not None:
            injector = FaultInjector(
                server_faults,
                targets,
                log,
                duration_s=opts.duration_s,
                every_s=opts.fault_every_s,
                seed=opts.seed,
            )
        echo(
            f"run {run_id}: {opts.shape} load, {opts.users} users, {opts.duration_s:.0f}s, "
            f"faults: {', '.join(opts.faults) or 'none'}; output in {run_dir}"
        )
        code, cpu = run_locust(
            settings, settings_path, run_dir, opts, injector, echo, stack.process_groups
        )
        cpu.save(run_dir)
        echo(cpu.summary_line())
        scrape = stack.scrape_metrics()
        if scrape is not None:
            (run_dir / METRICS_FILE).write_bytes(scrape)
        if injector is not None:
            injector.join()
            for line in injector.injected:
                echo(f"fault {line}")
            if isinstance(stack, LiveStack):
                stack.adopt_restarts(injector.targets.restarted)
        if code not in (0, 1):
            notes.append(f"locust exited with {code}")
        for line in stack.heal():
            echo(f"heal: {line}")
        left = reconcile_until_settled(stack, prefix, opts.settle_timeout_s, echo)
        if left:
            notes.append(f"{left} payments still unsettled when the audit ran")
        final = stack.final_state()
        keys_with_rows = {
            (p.merchant, p.idempotency_key) for p in final.payments if p.merchant.startswith(prefix)
        }
        settle_round(stack, settings, run_dir, keys_with_rows, opts, echo)
        history = merge_histories(run_dir)
        final = stack.final_state()
        result = audit(
            history,
            final,
            prefix,
            extra={"notes": notes, "stack": stack.name},
            reads=load_reads(run_dir),
        )
        echo(result.render())
        return LoadResult(run_dir, result, 0 if result.verdict.ok else 1, notes)
    finally:
        try:
            removed = stack.remove_keys()
            if removed:
                echo(f"removed the run's {removed} API keys")
        except Exception as exc:  # the stack may be gone with its schema; say so
            echo(f"could not remove the run's API keys: {exc!r}")
        if settings is not None and settings.api_keys:
            settings.redacted().save(run_dir / "settings.json")
        if not opts.keep_stack:
            stack.close()


def summarise_counts(history: Path) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    with open(history, encoding="utf-8") as handle:
        for line in handle:
            row: dict[str, Any] = json.loads(line)
            if row["kind"] == "response":
                counts[str(row["status"])] += 1
    return dict(counts)


__all__ = ["LoadOptions", "LoadResult", "StackError", "parse_faults", "parse_weights", "run_load"]
