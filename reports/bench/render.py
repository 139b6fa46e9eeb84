"""``bench.md``: a ``payharness bench live`` run's figures as Markdown tables, from the summary
``loadtests.bench`` writes to ``bench.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_bench_report(out_dir: Path, summary: dict[str, Any]) -> str:
    """Write ``bench.md`` into ``out_dir``; return its text (the CLI prints it)."""
    text = render_bench(summary)
    (out_dir / "bench.md").write_text(text, encoding="utf-8")
    return text


def render_bench(s: dict[str, Any]) -> str:
    """The Markdown tables of ``bench.md`` from a bench run's summary (``bench.json``)."""
    lines = [
        f"# payharness bench live ({s['machine']['cpus']} CPUs, {s['servers_per_endpoint']} "
        f"server processes per endpoint, p99 SLO {s['slo_ms']:.0f} ms)",
        "",
        "| endpoint | sustained payments/s | Redis cmds/payment (measured) | Postgres tx/payment "
        "(measured) | Redis / PG round trips/payment (measured, adapters) "
        "| Redis ops / PG statements (core flow) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, e in s["endpoints"].items():
        m = e["modelled_per_payment"]
        rt = e.get("round_trips_per_payment", {})
        lines.append(
            f"| {name} | {e['sustained_payments_per_s']} | {e['redis_commands_per_payment']} | "
            f"{e['postgres_transactions_per_payment']} | {rt.get('redis')} / "
            f"{rt.get('postgres')} | {m.get('redis')} / {m.get('postgres')} |"
        )
    lines += [
        "",
        "CPU milliseconds per payment, by component (the 2-core machine's budget is "
        f"{1000 * (s['machine']['cpus'] or 1)} ms of CPU per second):",
        "",
        "| endpoint | servers | mock | redis | postgres | generator |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, e in s["endpoints"].items():
        c = e.get("cpu_ms_per_payment", {})
        lines.append(
            f"| {name} | {c.get('servers')} | {c.get('mock')} | {c.get('redis')} | "
            f"{c.get('postgres')} | {c.get('generator')} |"
        )
    ratio = s["ratio_hardened_to_bare"]
    lines += [
        "",
        f"hardened / bare = {ratio if ratio is not None else 'n/a'} (target >= 0.6)",
        "",
        "| component (same run) | per second |",
        "| --- | --- |",
    ]
    lines += [f"| {k} | {v} |" for k, v in s["components"].items()]
    return "\n".join(lines) + "\n"
