"""Pandas frames built from judged sim runs (``sim.runner.RunResult``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from core.checker import PROPERTIES


def summary_frame(summaries: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per (scenario, variant): the verdict table."""
    rows = []
    for s in summaries:
        row: dict[str, Any] = {
            "scenario": s["scenario"],
            "variant": s["variant"],
            "seed": s["seed"],
            "payments": s["payments"],
            "requests": s["requests"],
            "charges": s["provider_charges"],
        }
        for p in PROPERTIES:
            row[p] = {"holds": "ok", "BROKEN": "BROKEN"}.get(s["properties"][p], "-")
        row["p50_ms"] = s["latency_ms"]["p50"]
        row["p99_ms"] = s["latency_ms"]["p99"]
        row["paid_per_s"] = s["throughput_per_s"]
        row["expected"] = "yes" if s["expectation"]["met"] else "NO"
        rows.append(row)
    return pd.DataFrame(rows)


def latency_frame(runs: Sequence[Any]) -> pd.DataFrame:
    """Client-perceived latency (first send to final answer) of every payment."""
    parts = [
        pd.DataFrame(
            {
                "scenario": r.summary["scenario"],
                "variant": r.summary["variant"],
                "latency_ms": np.asarray(r.latencies_ms, dtype="float64"),
            }
        )
        for r in runs
    ]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def throughput_frame(runs: Sequence[Any], bucket_s: float = 1.0) -> pd.DataFrame:
    """Payments answered 'paid' per second of simulated time, during the load phase."""
    parts = []
    for r in runs:
        t = pd.Series(np.asarray(r.paid_at_ms, dtype="float64")) / 1000.0
        load_s = r.summary["arrivals_s"]
        t = t[t <= load_s]
        counts = (t // bucket_s).value_counts().sort_index()
        index = pd.RangeIndex(0, int(load_s // bucket_s) + 1)
        counts = counts.reindex(index, fill_value=0)
        parts.append(
            pd.DataFrame(
                {
                    "scenario": r.summary["scenario"],
                    "variant": r.summary["variant"],
                    "t_s": index * bucket_s,
                    "paid_per_s": counts.to_numpy() / bucket_s,
                }
            )
        )
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def violations_frame(runs: Sequence[Any]) -> pd.DataFrame:
    """Each violation at the time its key or order was first requested."""
    rows = [
        {
            "scenario": r.summary["scenario"],
            "variant": r.summary["variant"],
            "t_s": t / 1000.0,
            "property": prop,
        }
        for r in runs
        for t, prop in r.violation_at_ms
    ]
    return pd.DataFrame(rows, columns=["scenario", "variant", "t_s", "property"])
