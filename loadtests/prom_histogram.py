"""Quantiles of a Prometheus histogram scraped from the stack's ``/metrics``: one
``histogram_quantile`` for the load report's server latency (``reports.load.gateway``) and
the calibration's component latencies (``loadtests.calibrate``)."""

from __future__ import annotations


def bucket_quantile(buckets: list[tuple[float, float]], q: float) -> float:
    """Prometheus's ``histogram_quantile``: linear inside the bucket holding rank q."""
    buckets = sorted(buckets)
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return float("nan")
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, cumulative in buckets:
        if cumulative >= rank:
            if bound == float("inf"):
                return lower
            inside = cumulative - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 0.0)
        lower, below = bound, cumulative
    return lower
