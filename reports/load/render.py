"""The load report: figures (matplotlib, Agg), Markdown, and a self-contained HTML page.

``build_report(run_dir)`` reads only files of the run folder (history, settings, fault
windows, Locust CSVs, audit and bench results), so ``payharness report RUN_DIR`` rebuilds it
anywhere.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from reports.load.frames import (
    Knee,
    attempts,
    fault_windows,
    knee,
    load_settings,
    read_events,
    segments,
    status_breakdown,
    timeseries,
    user_phases,
)
from reports.load.gateway import cpu_rows, server_latency

FAULT_COLOURS = {
    "kill": "#d62728",
    "redis-flush": "#ff7f0e",
    "redis-restart": "#bcbd22",
    "pg-terminate": "#9467bd",
    "mock": "#8c564b",
}
REPORT_MD = "report.md"
REPORT_HTML = "report.html"


@dataclass(slots=True)
class Report:
    title: str
    blocks: list[tuple[str, Any]] = field(default_factory=list)
    figures: dict[str, Path] = field(default_factory=dict)

    def h(self, text: str) -> None:
        self.blocks.append(("h", text))

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def pre(self, text: str) -> None:
        self.blocks.append(("pre", text))

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.blocks.append(("table", (list(header), [list(r) for r in rows])))

    def figure(self, name: str, path: Path) -> None:
        self.figures[name] = path
        self.blocks.append(("fig", (name, path)))

    def markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for kind, value in self.blocks:
            if kind == "h":
                out += [f"## {value}", ""]
            elif kind == "p":
                out += [value, ""]
            elif kind == "pre":
                out += ["```", value, "```", ""]
            elif kind == "table":
                header, rows = value
                out.append("| " + " | ".join(header) + " |")
                out.append("|" + "|".join(" --- " for _ in header) + "|")
                out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
                out.append("")
            elif kind == "fig":
                name, path = value
                out += [f"![{name}]({path.name})", ""]
        return "\n".join(out)

    def html(self) -> str:
        parts = [
            "<!doctype html><html><head><meta charset='utf-8'>",
            f"<title>{html.escape(self.title)}</title>",
            "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;}"
            "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
            "padding:3px 8px;text-align:right}th{background:#eee}pre{background:#f6f6f6;"
            "padding:1em;overflow:auto}img{max-width:100%}.fail{color:#b00;font-weight:bold}"
            ".pass{color:#070;font-weight:bold}</style></head><body>",
            f"<h1>{html.escape(self.title)}</h1>",
        ]
        for kind, value in self.blocks:
            if kind == "h":
                parts.append(f"<h2>{html.escape(value)}</h2>")
            elif kind == "p":
                parts.append(f"<p>{_inline(value)}</p>")
            elif kind == "pre":
                parts.append(f"<pre>{html.escape(value)}</pre>")
            elif kind == "table":
                header, rows = value
                parts.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header))
                for r in rows:
                    parts.append(
                        "<tr>" + "".join(f"<td>{_inline(_cell(c))}</td>" for c in r) + "</tr>"
                    )
                parts.append("</table>")
            elif kind == "fig":
                name, path = value
                data = base64.b64encode(path.read_bytes()).decode()
                parts.append(f"<img alt='{html.escape(name)}' src='data:image/png;base64,{data}'>")
        parts.append("</body></html>")
        return "\n".join(parts)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def _inline(text: str) -> str:
    out = html.escape(text)
    out = out.replace("**PASS**", "<span class='pass'>PASS</span>")
    out = out.replace("**FAIL**", "<span class='fail'>FAIL</span>")
    return out.replace("**", "")


def _shade(ax: Any, faults: pd.DataFrame) -> None:
    seen: set[str] = set()
    for row in faults.itertuples():
        colour = FAULT_COLOURS.get(str(row.kind), "#7f7f7f")
        end = max(float(row.end_s), float(row.start_s) + 0.3)
        label = str(row.kind) if row.kind not in seen else None
        seen.add(str(row.kind))
        # The mock's test tokens are sent all run long: a faint band, not a wall.
        alpha = 0.07 if row.kind == "mock" else 0.3
        ax.axvspan(float(row.start_s), end, color=colour, alpha=alpha, label=label, lw=0)


def plot_time(ts: pd.DataFrame, faults: pd.DataFrame, slo_ms: float, path: Path) -> Path:
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True)
    ax1.plot(ts["t_s"], ts["rps"], label="responses/s", color="#1f77b4")
    ax1.plot(ts["t_s"], ts["errors_ps"], label="errors/s (5xx, timeouts, refused)", color="#d62728")
    ax1.set_ylabel("per second")
    _shade(ax1, faults)
    ax1.legend(loc="upper left", fontsize=8)
    for col, colour in (("p50", "#2ca02c"), ("p95", "#ff7f0e"), ("p99", "#d62728")):
        ax2.plot(ts["t_s"], ts[col], label=col, color=colour)
    ax2.axhline(slo_ms, ls="--", color="k", lw=0.8, label=f"SLO {slo_ms:.0f} ms")
    _shade(ax2, faults)
    ax2.set_yscale("log")
    ax2.set_ylabel("latency ms (log)")
    ax2.set_xlabel("seconds since start (shaded: fault windows)")
    ax2.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_knee(seg: pd.DataFrame, kn: Knee | None, slo_ms: float, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ordered = seg.sort_values("offered_rps")
    ax.plot(ordered["offered_rps"], ordered["p99"], "o-", label="p99 latency", color="#d62728")
    ax.axhline(slo_ms, ls="--", color="k", lw=0.8, label=f"SLO {slo_ms:.0f} ms")
    ax.set_xlabel("offered load (scenarios/s = users / pace)")
    ax.set_ylabel("p99 ms")
    ax2 = ax.twinx()
    ax2.plot(
        ordered["offered_rps"],
        ordered["throughput_rps"],
        "s:",
        color="#1f77b4",
        label="throughput (responses/s)",
    )
    ax2.set_ylabel("responses/s")
    if kn is not None:
        ax.axvline(kn.offered_rps, color="#2ca02c", lw=1.5)
        ax.annotate(
            f"knee: {kn.throughput_rps:.0f} resp/s\np99 {kn.p99_ms:.0f} ms",
            (kn.offered_rps, kn.p99_ms),
            textcoords="offset points",
            xytext=(8, 8),
            fontsize=8,
        )
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_status(breakdown: pd.DataFrame, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 3.5))
    labels = [f"{s} {o}" for s, o in zip(breakdown["status"], breakdown["outcome"], strict=True)]
    ax.barh(labels, breakdown["count"], color="#1f77b4")
    ax.invert_yaxis()
    ax.set_xlabel("attempts (status -1: no response, 0: timeout or refused)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def build_report(run_dir: Path) -> Path:
    """Write report.md, report.html and the figures into ``run_dir``; return the HTML path."""
    run_dir = Path(run_dir)
    settings = load_settings(run_dir)
    events = read_events(run_dir)
    att = attempts(events)
    ts = timeseries(att)
    faults = fault_windows(run_dir)
    seg = segments(att, settings, user_phases(run_dir, settings))
    kn = knee(seg, settings.slo_ms)
    breakdown = status_breakdown(att)
    audit = _json(run_dir / "audit.json")
    bench = _json(run_dir / "bench.json") or _latest_bench(run_dir)

    rep = Report(f"Load run {settings.run_id}")
    verdict = "no audit" if audit is None else ("**PASS**" if audit["ok"] else "**FAIL**")
    rep.p(
        f"Shape {settings.shape}, up to {settings.users} users, pace {settings.pace_s}s, "
        f"{settings.duration_s:.0f}s, {len(settings.targets)} API servers. "
        f"Exactly-once audit: {verdict}."
    )
    rep.h("Exactly-once audit")
    if audit is not None:
        rep.table(
            ["property", "verdict", "meaning"],
            [[p, v, audit["titles"].get(p, "")] for p, v in audit["summary"].items()],
        )
        rep.table(["count", "value"], sorted(audit["counts"].items()))
        if audit["violations"]:
            text = "\n\n".join(
                f"{v['prop']} violated: {v['message']}\n  " + "\n  ".join(v["trace"])
                for v in audit["violations"][:12]
            )
            rep.pre(text)
    else:
        rep.p("The audit did not run for this folder.")
    rep.h("Throughput and latency over time")
    if not ts.empty:
        rep.figure("time", plot_time(ts, faults, settings.slo_ms, run_dir / "time.png"))
    n_ok = int((att["status"] >= 0).sum()) if not att.empty else 0
    rep.p(
        f"{len(att)} attempts, {n_ok} answered; overall p50 "
        f"{_q(att, 0.5):.1f} ms, p99 {_q(att, 0.99):.1f} ms (client-side, from the history)."
    )
    rep.h("Gateway and harness")
    _gateway_section(rep, run_dir, att)
    rep.h("Fault windows")
    if faults.empty:
        rep.p("No live faults were injected by the harness in this run.")
    else:
        rep.table(
            ["kind", "start s", "end s", "detail"],
            [[r.kind, float(r.start_s), float(r.end_s), r.detail] for r in faults.itertuples()],
        )
    rep.h("Latency against offered load")
    if not seg.empty:
        rep.figure("knee", plot_knee(seg, kn, settings.slo_ms, run_dir / "knee.png"))
        rep.table(
            ["users", "offered/s", "throughput/s", "p50 ms", "p99 ms", "errors", "n"],
            [
                [
                    int(r.users),
                    float(r.offered_rps),
                    float(r.throughput_rps),
                    float(r.p50),
                    float(r.p99),
                    int(r.errors),
                    int(r.n),
                ]
                for r in seg.itertuples()
            ],
        )
    if kn is not None:
        rep.p(
            f"Knee (highest throughput with p99 under {kn.slo_ms:.0f} ms): "
            f"{kn.throughput_rps:.1f} responses/s at {kn.users} users, p99 {kn.p99_ms:.1f} ms."
        )
    else:
        rep.p(f"No segment kept p99 under {settings.slo_ms:.0f} ms (or no segments measured).")
    rep.h("Status codes")
    if not breakdown.empty:
        rep.figure("status", plot_status(breakdown, run_dir / "status.png"))
        rep.table(
            ["status", "outcome", "count", "share %"],
            [
                [int(r.status), r.outcome, int(r.count), 100 * float(r.share)]
                for r in breakdown.itertuples()
            ],
        )
    if bench is not None:
        rep.h("Capacity (payharness bench live, same output folder)")
        rep.table(
            ["endpoint", "sustained payments/s", "Redis cmds/payment", "Postgres tx/payment"],
            [
                [
                    name,
                    e["sustained_payments_per_s"],
                    e["redis_commands_per_payment"],
                    e["postgres_transactions_per_payment"],
                ]
                for name, e in bench.get("endpoints", {}).items()
            ],
        )
        rep.p(f"hardened / bare = {bench.get('ratio_hardened_to_bare')} (target >= 0.6)")
        rep.table(["component", "per second"], sorted(bench.get("components", {}).items()))
    csvs = sorted(p.name for p in run_dir.glob("*.csv"))
    rep.h("Files")
    rep.p("Locust CSV stats kept beside this report: " + (", ".join(csvs) or "none") + ".")

    (run_dir / REPORT_MD).write_text(rep.markdown(), encoding="utf-8")
    out = run_dir / REPORT_HTML
    out.write_text(rep.html(), encoding="utf-8")
    summary = {
        "knee": None if kn is None else _knee(kn),
        "attempts": len(att),
    }
    (run_dir / "report.json").write_text(json.dumps(summary, indent=2, default=str), "utf-8")
    return out


def _gateway_section(rep: Report, run_dir: Path, att: pd.DataFrame) -> None:
    """The servers' own time beside the client's, and who used the cores (issue 19, item 6):
    a latency the server did not see was spent in the client or waiting for a core."""
    server = server_latency(run_dir)
    if server is None:
        rep.p("No metrics.prom in this folder: the servers' own request times are not known.")
    else:
        rep.table(
            ["POST /payments", "n", "p50 ms", "p99 ms"],
            [
                ["client (history)", len(att), _q(att, 0.5), _q(att, 0.99)],
                ["server (/metrics histogram)", server.count, server.p50_ms, server.p99_ms],
            ],
        )
        rep.p(
            f"Server mean {server.mean_ms:.1f} ms. The server's quantiles are interpolated "
            "inside its histogram buckets; the client's count every attempt of the history "
            "(settle round included)."
        )
    cpu = cpu_rows(run_dir)
    if cpu is None:
        rep.p("No cpu.json in this folder: the CPU shares were not measured.")
        return
    window, rows = cpu
    rep.p(
        f"CPU while Locust ran ({window.window_s:.0f} s on {window.cores} cores): the harness "
        "is Locust's processes and the run's own; the gateway its API servers and "
        "reconcilers; Redis and Postgres count every such process on the machine."
    )
    rep.table(["part", "CPU s", "% of the cores"], rows)


def _knee(kn: Knee) -> dict[str, float]:
    return {
        "users": kn.users,
        "offered_rps": kn.offered_rps,
        "throughput_rps": kn.throughput_rps,
        "p99_ms": kn.p99_ms,
        "slo_ms": kn.slo_ms,
    }


def _q(att: pd.DataFrame, q: float) -> float:
    done = att[att["status"] >= 0] if not att.empty else att
    return float(done["latency_ms"].quantile(q)) if len(done) else float("nan")


def _latest_bench(run_dir: Path) -> dict[str, Any] | None:
    """The newest ``payharness bench live`` result of the same output folder, if any."""
    found = sorted((run_dir.parent.parent / "bench").glob("*/bench.json"))
    return _json(found[-1]) if found else None


def _json(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data
