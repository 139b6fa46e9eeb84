"""Load shapes: steady, a step ramp that walks up to the knee, and a spike.

Each is a pure plan (``plan(settings, elapsed_s) -> (users, spawn_rate) | None``) so the
report can reconstruct the offered load of any moment, wrapped in one Locust
``LoadTestShape`` that reads the run's settings.
"""

from __future__ import annotations

import math

from loadtests.settings import LoadSettings

Tick = tuple[int, float] | None


def steady(s: LoadSettings, t: float) -> Tick:
    if t >= s.duration_s:
        return None
    return s.users, s.spawn_rate


def step_size(s: LoadSettings) -> int:
    return s.step_users or max(1, s.users // 5)


def step(s: LoadSettings, t: float) -> Tick:
    """From ``step_users`` up by ``step_users`` every ``step_s`` seconds, capped at ``users``;
    the report marks the knee (highest throughput with p99 under the SLO)."""
    if t >= s.duration_s:
        return None
    size = step_size(s)
    n = int(t // s.step_s) + 1
    return min(s.users, n * size), max(s.spawn_rate, float(size))


def spike(s: LoadSettings, t: float) -> Tick:
    """A fifth of the users, then all of them for the middle fifth of the run, then back."""
    if t >= s.duration_s:
        return None
    base = max(1, math.ceil(s.users / 5))
    lo, hi = 0.4 * s.duration_s, 0.6 * s.duration_s
    if lo <= t < hi:
        return s.users, max(s.spawn_rate, float(s.users))
    return base, max(s.spawn_rate, float(s.users))


PLANS = {"steady": steady, "step": step, "spike": spike}


def plan(s: LoadSettings, t: float) -> Tick:
    return PLANS[s.shape](s, t)


def phases(s: LoadSettings) -> list[tuple[float, float, int]]:
    """The plan as (start_s, end_s, users) segments, for the report's offered-load axis."""
    out: list[tuple[float, float, int]] = []
    t, resolution = 0.0, 0.5
    while True:
        tick = plan(s, t)
        if tick is None:
            break
        if out and out[-1][2] == tick[0]:
            out[-1] = (out[-1][0], t + resolution, tick[0])
        else:
            out.append((t, t + resolution, tick[0]))
        t += resolution
    return out
