"""The load report's gateway figures: the server-side quantile from a histogram scrape and the
CPU shares from ``cpu.json`` (no live services)."""

from __future__ import annotations

import math
import os
from pathlib import Path

from loadtests.cpu_meter import CpuMeter, CpuWindow
from reports.load.gateway import bucket_quantile, server_latency

# ruff: noqa: E501  (samples are one line each, as a scrape writes them)

SCRAPE = """\
# TYPE payharness_http_request_duration_seconds histogram
payharness_http_request_duration_seconds_bucket{le="0.01",outcome="paid",route="/payments",status="201"} 50.0
payharness_http_request_duration_seconds_bucket{le="0.1",outcome="paid",route="/payments",status="201"} 100.0
payharness_http_request_duration_seconds_bucket{le="+Inf",outcome="paid",route="/payments",status="201"} 100.0
payharness_http_request_duration_seconds_count{outcome="paid",route="/payments",status="201"} 100.0
payharness_http_request_duration_seconds_sum{outcome="paid",route="/payments",status="201"} 2.0
payharness_http_request_duration_seconds_bucket{le="0.01",outcome="none",route="/healthz",status="200"} 7.0
payharness_http_request_duration_seconds_bucket{le="+Inf",outcome="none",route="/healthz",status="200"} 7.0
payharness_http_request_duration_seconds_count{outcome="none",route="/healthz",status="200"} 7.0
payharness_http_request_duration_seconds_sum{outcome="none",route="/healthz",status="200"} 0.01
"""


def test_bucket_quantile_interpolates_like_prometheus() -> None:
    buckets = [(0.01, 50.0), (0.1, 100.0), (math.inf, 100.0)]
    assert bucket_quantile(buckets, 0.5) == 0.01
    assert math.isclose(bucket_quantile(buckets, 0.75), 0.055)
    assert math.isnan(bucket_quantile([], 0.5))


def test_server_latency_reads_the_payments_route_of_metrics_prom(tmp_path: Path) -> None:
    (tmp_path / "metrics.prom").write_text(SCRAPE)
    got = server_latency(tmp_path)
    assert got is not None
    assert got.count == 100 and math.isclose(got.mean_ms, 20.0)
    assert math.isclose(got.p50_ms, 10.0)
    assert server_latency(tmp_path / "missing") is None


def test_cpu_window_round_trips_and_its_shares_add_up(tmp_path: Path) -> None:
    window = CpuWindow(10.0, 2, {"harness": 2.0, "gateway": 6.0}, machine_busy_s=15.0)
    window.save(tmp_path)
    again = CpuWindow.load(tmp_path)
    assert again == window
    shares = {part: pct for part, _, pct in again.shares()}
    assert shares == {"harness": 10.0, "gateway": 30.0, "rest of the machine": 35.0, "idle": 25.0}
    assert "harness 10%" in again.summary_line()


def test_the_meter_counts_its_own_process_as_harness() -> None:
    meter = CpuMeter(lambda: {"harness": [os.getpid()]}, every_s=0.05).start()
    total = 0
    for i in range(200_000):  # some CPU for this process to be charged
        total += i * i
    window = meter.stop()
    assert total > 0
    assert window.cpu_s["harness"] >= 0.0 and window.cores >= 1
