"""What a run measures for the report, filled in by the clients and servers as it goes."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field


@dataclass(slots=True)
class Metrics:
    """What the report plots: client-perceived latency, completions, attempts."""

    latencies_ms: array[float] = field(default_factory=lambda: array("d"))
    """First send to final answer of each payment (only payments that got a final answer)."""
    paid_at_ms: array[int] = field(default_factory=lambda: array("q"))
    final_at_ms: array[int] = field(default_factory=lambda: array("q"))
    attempts: int = 0
    payments: int = 0
    gave_up: int = 0
    paid: int = 0
    failed: int = 0
    pay_again: int = 0
    double_submits: int = 0
    timeouts: int = 0
    arrival_ms: array[int] = field(default_factory=lambda: array("q"))
    """Arrival time of payment n (order ``o{n:07d}``) at index n - 1."""
    rate_limited_at_ms: array[int] = field(default_factory=lambda: array("q"))
    """When the provider turned a charge away with 429 (its rate limit or an injected 429)."""
    queue_at_ms: array[int] = field(default_factory=lambda: array("q"))
    queue_depth: array[int] = field(default_factory=lambda: array("q"))
    """Requests waiting for a worker, summed over the servers, sampled at ``queue_at_ms``
    during the load phase (``sim.engine.QUEUE_SAMPLE_US`` apart): off the hot path."""
    load_end_ms: int = 0
    end_ms: int = 0
    sim_events: int = 0
