"""pandas frames of a load run: attempts, a per-second time series, fault windows, the
offered-load segments and the knee."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loadtests.settings import LoadSettings
from loadtests.shapes import phases

HISTORY = "history.jsonl"
FAULTS = "faults.jsonl"
SETTINGS = "settings.json"
SETTLE_DETAIL = "settle"


def read_events(run_dir: Path) -> pd.DataFrame:
    path = run_dir / HISTORY
    if not path.exists():
        return pd.DataFrame()
    return pd.read_json(path, lines=True, dtype=False)


def attempts(events: pd.DataFrame) -> pd.DataFrame:
    """One row per attempt sent during the load (the settle round excluded): when it was
    sent, when it came back, its latency, status and outcome. Attempts cut off (a killed
    process) have no response: status -1, outcome 'lost'."""
    cols = [
        "attempt",
        "t_req",
        "t_resp",
        "latency_ms",
        "status",
        "outcome",
        "code",
        "client",
        "user_kind",
        "target",
        "replayed",
        "key",
        "merchant",
    ]
    if events.empty:
        return pd.DataFrame(columns=cols)
    ev = events
    settle_t = ev.loc[(ev["kind"] == "phase") & (ev["detail"] == SETTLE_DETAIL), "t"]
    cut = int(settle_t.min()) if len(settle_t) else None
    req = ev[ev["kind"] == "request"][["attempt", "t", "client", "detail", "key", "merchant"]]
    req = req.rename(columns={"t": "t_req", "detail": "target"})
    req["target"] = req["target"].str.replace("target=", "", regex=False)
    resp = ev[ev["kind"] == "response"][
        ["attempt", "t", "status", "outcome", "code", "replayed", "detail"]
    ]
    resp = resp.rename(columns={"t": "t_resp", "detail": "resp_detail"})
    df = req.merge(resp, on="attempt", how="left")
    if cut is not None:
        df = df[df["t_req"] < cut]
    measured = pd.to_numeric(
        df["resp_detail"].astype("string").str.extract(r"latency_ms=([0-9.]+)")[0],
        errors="coerce",
    )
    df["latency_ms"] = measured.fillna(df["t_resp"] - df["t_req"])
    df["status"] = df["status"].fillna(-1).astype(int)
    df["outcome"] = df["outcome"].fillna("lost")
    df["code"] = df["code"].fillna("")
    df["replayed"] = df["replayed"].fillna(False).astype(bool)
    df["user_kind"] = df["client"].astype(str).str.rsplit("-", n=1).str[0]
    return df[cols].reset_index(drop=True)


def timeseries(att: pd.DataFrame, bucket_s: float = 1.0) -> pd.DataFrame:
    """Per bucket: responses/s, errors/s and latency percentiles of answered requests."""
    if att.empty:
        return pd.DataFrame(columns=["t_s", "rps", "errors_ps", "p50", "p95", "p99", "lost"])
    done = att[att["status"] >= 0].copy()
    done["bucket"] = (done["t_resp"] // (bucket_s * 1000)).astype(int)
    grouped = done.groupby("bucket")
    frame = pd.DataFrame(
        {
            "rps": grouped.size() / bucket_s,
            "errors_ps": grouped["outcome"].apply(lambda s: (s == "error").sum()) / bucket_s,
            "p50": grouped["latency_ms"].quantile(0.50),
            "p95": grouped["latency_ms"].quantile(0.95),
            "p99": grouped["latency_ms"].quantile(0.99),
        }
    )
    lost = att[att["status"] < 0]
    lost_b = (lost["t_req"] // (bucket_s * 1000)).astype(int).value_counts()
    full = range(int(frame.index.min()), int(frame.index.max()) + 1) if len(frame) else []
    frame = frame.reindex(full)
    frame["rps"] = frame["rps"].fillna(0.0)
    frame["errors_ps"] = frame["errors_ps"].fillna(0.0)
    frame["lost"] = lost_b.reindex(frame.index).fillna(0).astype(int)
    frame["t_s"] = frame.index * bucket_s
    return frame.reset_index(drop=True)[["t_s", "rps", "errors_ps", "p50", "p95", "p99", "lost"]]


def fault_windows(run_dir: Path) -> pd.DataFrame:
    path = run_dir / FAULTS
    cols = ["kind", "start_s", "end_s", "detail"]
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame(columns=cols)
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    df = pd.DataFrame(rows)
    df["start_s"] = df["start_ms"] / 1000
    df["end_s"] = df["end_ms"] / 1000
    return df[cols]


def status_breakdown(att: pd.DataFrame) -> pd.DataFrame:
    if att.empty:
        return pd.DataFrame(columns=["status", "outcome", "count", "share"])
    counts = att.groupby(["status", "outcome"]).size().rename("count").reset_index()
    counts["share"] = counts["count"] / counts["count"].sum()
    return counts.sort_values("count", ascending=False).reset_index(drop=True)


@dataclass(frozen=True, slots=True)
class Knee:
    users: int
    offered_rps: float
    throughput_rps: float
    p99_ms: float
    slo_ms: float


def user_phases(run_dir: Path, settings: LoadSettings) -> list[tuple[float, float, int]]:
    """(start_s, end_s, users) segments of constant user count, from Locust's stats history
    when present (the truth), else from the shape's plan."""
    found = sorted(run_dir.glob("*_stats_history.csv"))
    if found:
        hist = pd.read_csv(found[0])
        hist = hist[hist["Name"] == "Aggregated"]
        if len(hist) > 1:
            t = hist["Timestamp"].astype(float) - settings.t0_ms / 1000
            users = hist["User Count"].astype(int)
            out: list[tuple[float, float, int]] = []
            for ts, n in zip(t, users, strict=True):
                if out and out[-1][2] == n:
                    out[-1] = (out[-1][0], float(ts), n)
                else:
                    if out:
                        out[-1] = (out[-1][0], float(ts), out[-1][2])
                    out.append((float(ts), float(ts), n))
            return [seg for seg in out if seg[2] > 0 and seg[1] - seg[0] >= 3.0]
    return phases(settings)


def segments(
    att: pd.DataFrame,
    settings: LoadSettings,
    plan: list[tuple[float, float, int]] | None = None,
    warmup_s: float = 2.0,
) -> pd.DataFrame:
    """Per segment of constant user count: offered scenarios/s, achieved responses/s and
    latency percentiles, the first ``warmup_s`` of each segment dropped."""
    rows: list[dict[str, Any]] = []
    done = att[att["status"] >= 0]
    for start, end, users in plan if plan is not None else phases(settings):
        lo, hi = (start + min(warmup_s, (end - start) / 2)) * 1000, end * 1000
        part = done[(done["t_resp"] >= lo) & (done["t_resp"] < hi)]
        span = (hi - lo) / 1000
        if span <= 0:
            continue
        rows.append(
            {
                "start_s": start,
                "end_s": end,
                "users": users,
                "offered_rps": users / settings.pace_s,
                "throughput_rps": len(part) / span,
                "p50": float(part["latency_ms"].quantile(0.5)) if len(part) else np.nan,
                "p99": float(part["latency_ms"].quantile(0.99)) if len(part) else np.nan,
                "errors": int((part["outcome"] == "error").sum()),
                "n": len(part),
            }
        )
    return pd.DataFrame(rows)


def knee(seg: pd.DataFrame, slo_ms: float) -> Knee | None:
    """The highest throughput whose p99 stays under the SLO."""
    if seg.empty:
        return None
    ok = seg[(seg["p99"] < slo_ms) & (seg["n"] > 0)]
    if ok.empty:
        return None
    best = ok.loc[ok["throughput_rps"].idxmax()]
    return Knee(
        users=int(best["users"]),
        offered_rps=float(best["offered_rps"]),
        throughput_rps=float(best["throughput_rps"]),
        p99_ms=float(best["p99"]),
        slo_ms=slo_ms,
    )


def load_settings(run_dir: Path) -> LoadSettings:
    return LoadSettings.load(str(run_dir / SETTINGS))
