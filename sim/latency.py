"""Latency distributions: lognormal given by its median and 99th percentile, with an
optional heavy tail (a small probability of a much slower answer).

A lognormal is the usual fit for service latencies (many small multiplicative delays); the
median fixes ``mu = ln(median)`` and the p99 fixes ``sigma = ln(p99 / median) / z99`` with
``z99 = 2.3263`` the standard normal 99th percentile.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from math import cos as _cos
from math import exp as _exp
from math import log as _log
from math import sin as _sin
from math import sqrt as _sqrt
from math import tau as _TWOPI
from typing import Any

Z99 = 2.326347874040841
"""The 0.99 quantile of the standard normal distribution."""


@dataclass(frozen=True, slots=True)
class Latency:
    """Milliseconds drawn from a lognormal(median, p99), optionally with a heavy tail."""

    median_ms: float
    p99_ms: float
    tail_probability: float = 0.0
    tail_factor: float = 1.0

    def __post_init__(self) -> None:
        if self.median_ms <= 0 or self.p99_ms < self.median_ms:
            raise ValueError(f"latency needs 0 < median ({self.median_ms}) <= p99 ({self.p99_ms})")

    @property
    def mu(self) -> float:
        return math.log(self.median_ms)

    @property
    def sigma(self) -> float:
        return math.log(self.p99_ms / self.median_ms) / Z99

    def sampler(self, rng: random.Random) -> Sampler:
        return Sampler(self, rng)


class Sampler:
    """A bound, fast sampler returning integer microseconds (the simulator's time unit)."""

    __slots__ = ("_factor", "_mu", "_p", "_rng", "_sigma")

    def __init__(self, latency: Latency, rng: random.Random) -> None:
        self._mu = latency.mu + math.log(1000.0)  # ms → µs
        self._sigma = latency.sigma
        self._p = latency.tail_probability
        self._factor = latency.tail_factor
        self._rng: Any = rng  # Any: ``gauss_next`` (read below) is not in typeshed

    def __call__(self) -> int:
        rng = self._rng
        # lognormal: exp of ``rng.gauss(mu, sigma)``, its code inlined (one Python call per
        # draw instead of two; the same draws, the same values, the same pair cache).
        z = rng.gauss_next
        rng.gauss_next = None
        if z is None:
            random = rng.random
            x2pi = random() * _TWOPI
            g2rad = _sqrt(-2.0 * _log(1.0 - random()))
            z = _cos(x2pi) * g2rad
            rng.gauss_next = _sin(x2pi) * g2rad
        value = _exp(self._mu + z * self._sigma)
        if self._p and rng.random() < self._p:
            value *= self._factor
        return int(value)
