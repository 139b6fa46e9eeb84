"""``payharness bench predict``'s table: the simulator's predictions beside the live
measurements, with the errors against the targets (knee within 15 %, p99 at half the knee
within 25 %), and the last line ``max knee error N %``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reports.bench.paths import render_paths

KNEE_TARGET = 0.15
P99_TARGET = 0.25


def error(predicted: float, measured: float) -> float:
    """Relative error of a prediction against the measurement (inf when nothing held)."""
    if measured <= 0:
        return 0.0 if predicted <= 0 else float("inf")
    return (predicted - measured) / measured


def _pct(e: float) -> str:
    return "inf" if e == float("inf") else f"{100 * e:+.0f} %"


def render_predict(s: dict[str, Any]) -> str:
    """The per-path costs, the predicted-vs-measured table and the verdict lines."""
    lines = [
        f"# payharness bench predict ({s['run']})",
        "",
        f"calibration: {s['calibration']}",
        "",
        render_paths(s["path_costs"], s["floors"]).rstrip("\n"),
    ]
    if not s["rows"]:  # --calibrate-only
        return "\n".join(lines) + "\n"
    lines += [
        "",
        f"Knee: new payments/s at p99 < {s['slo_ms']:.0f} ms; latencies at half the "
        "predicted knee, predicted and measured at the same offered rate; generator lag: how "
        "late the live generator itself sent (p99), inside the live latencies:",
        "",
        "| variant | servers | knee sim | knee live | error | half rate | p50 sim | p50 live "
        "| p99 sim | p99 live | p99 error | generator lag p99 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    knee_errors, p99_errors = [], []
    unbounded = 0
    for r in s["rows"]:
        ke = error(r["knee_predicted"], r["knee_measured"])
        bound = not r.get("knee_measured_bracketed", True)
        unbounded += bound
        pe = error(r["p99_predicted"], r["p99_measured"])
        lag = r.get("send_lag_p99_measured", float("nan"))
        knee_errors.append(abs(ke))
        p99_errors.append(abs(pe))
        lines.append(
            f"| {r['variant']} | {r['servers']} | {r['knee_predicted']:.1f} | "
            f"{'>= ' if bound else ''}{r['knee_measured']:.1f} | {_pct(ke)}"
            f"{' (bound)' if bound else ''} | {r['half_rate']:.1f} | "
            f"{r['p50_predicted']:.1f} | {r['p50_measured']:.1f} | {r['p99_predicted']:.1f} | "
            f"{r['p99_measured']:.1f} | {_pct(pe)} | {lag:.1f} |"
        )
    knees_ok = sum(1 for e in knee_errors if e <= KNEE_TARGET)
    p99_ok = sum(1 for e in p99_errors if e <= P99_TARGET)
    worst = max(knee_errors, default=0.0)
    lines += [
        "",
        f"knees within {KNEE_TARGET:.0%}: {knees_ok}/{len(knee_errors)}; p99 at half load "
        f"within {P99_TARGET:.0%}: {p99_ok}/{len(p99_errors)} (run took {s['wall_s']:.0f} s)"
        + (
            f"; {unbounded} live knee(s) held at every rate offered: a lower bound "
            "(--max-levels, --growth)"
            if unbounded
            else ""
        ),
        "max knee error " + ("inf" if worst == float("inf") else f"{100 * worst:.0f}") + " %",
    ]
    return "\n".join(lines) + "\n"


def write_predict_report(out_dir: Path, summary: dict[str, Any]) -> str:
    text = render_predict(summary)
    (out_dir / "predict.md").write_text(text, encoding="utf-8")
    return text
