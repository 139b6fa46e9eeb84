"""What a load run measured of the gateway rather than of the harness: the servers' own request
time (``metrics.prom``, the stack's ``/metrics`` as Locust stopped) beside the client's, and
the CPU share of each part of the run (``cpu.json``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from loadtests.cpu_meter import CpuWindow
from loadtests.prom_histogram import bucket_quantile
from loadtests.run import METRICS_FILE

REQUEST_METRIC = "payharness_http_request_duration_seconds"


@dataclass(frozen=True, slots=True)
class ServerLatency:
    """POST /payments as the servers timed it, over every status and outcome."""

    count: int
    mean_ms: float
    p50_ms: float
    p99_ms: float


def server_latency(run_dir: Path, route: str = "/payments") -> ServerLatency | None:
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return None
    buckets: dict[float, float] = {}
    total_s = count = 0.0
    for family in text_string_to_metric_families(path.read_text(encoding="utf-8")):
        if family.name != REQUEST_METRIC:
            continue
        for sample in family.samples:
            if sample.labels.get("route") != route:
                continue
            if sample.name.endswith("_bucket"):
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
            elif sample.name.endswith("_sum"):
                total_s += sample.value
            elif sample.name.endswith("_count"):
                count += sample.value
    if not count:
        return None
    pairs = sorted(buckets.items())
    return ServerLatency(
        int(count),
        1000 * total_s / count,
        1000 * bucket_quantile(pairs, 0.5),
        1000 * bucket_quantile(pairs, 0.99),
    )


def cpu_rows(run_dir: Path) -> tuple[CpuWindow, list[list[object]]] | None:
    cpu = CpuWindow.load(run_dir)
    if cpu is None:
        return None
    return cpu, [[part, round(s, 2), round(pct, 1)] for part, s, pct in cpu.shares()]
