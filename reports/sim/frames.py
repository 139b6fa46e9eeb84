"""Rates over time from a judged sim run's timestamps (``sim.runner.RunResult``): bins over
the load phase, the last one as wide as what is left of it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def bin_edges(load_s: float, bucket_s: float = 1.0) -> np.ndarray:
    """Edges of ``bucket_s`` bins over [0, load_s]; the last bin is as wide as what is left
    of the load phase (a rate over it is divided by that width, so a partial bin does not
    read as a drop)."""
    if load_s <= 0:
        return np.array([0.0])
    edges = np.arange(0.0, load_s, bucket_s)
    return np.append(edges, load_s)


def per_second(times_ms: Sequence[float], edges: np.ndarray) -> np.ndarray:
    """How many of ``times_ms`` fall in each bin of ``edges`` (seconds), per second of the
    bin's own width; a time on the last edge counts in the last bin."""
    if len(edges) < 2:
        return np.zeros(0)
    t = np.asarray(times_ms, dtype="float64") / 1000.0
    counts, _ = np.histogram(t, bins=edges)
    return counts / np.diff(edges)


def started_at_ms(latencies_ms: Sequence[float], final_at_ms: Sequence[int]) -> np.ndarray:
    """When each answered payment was first sent: its final answer's time less its latency."""
    final = np.asarray(final_at_ms, dtype="float64")
    return np.asarray(final - np.asarray(latencies_ms, dtype="float64"), dtype="float64")
