"""The bench's own arithmetic (its figures are printed, never asserted on)."""

from __future__ import annotations

import argparse
import asyncio
import time

import pytest

from loadtests.bench.components import rate_of
from loadtests.bench.meters import Meter, cpu_used_s
from loadtests.bench.options import add_arguments
from loadtests.bench.ramp import Level, describe, next_rate, sustained
from loadtests.bench.results import modelled_effects, summarise
from loadtests.rawhttp import HTTPError
from reports.bench import render_bench


def test_the_rate_probe_counts_every_operation_of_concurrent_workers() -> None:
    calls = 0

    async def op() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        return 1

    started = time.monotonic()
    rate = asyncio.run(rate_of(0.2, 16, op))
    elapsed = time.monotonic() - started
    assert calls > 100
    # the rate is every call over the probe's own span, which lasts at least the window and
    # at most what the test saw (a busy host stretches both alike: no wall-time assumption)
    assert calls / elapsed <= rate <= calls / 0.2


def test_cpu_counts_postgres_backends_the_window_opened_and_no_other_newcomer() -> None:
    before = {"postgres": {1: 1.0}, "servers": {5: 2.0}}
    after = {"postgres": {1: 1.5, 2: 0.25}, "servers": {5: 2.5, 6: 1.0}}
    used = cpu_used_s(before, after)
    assert used["postgres"] == 0.75  # backend 2 started inside the window: all of it counts
    assert used["servers"] == 0.5  # a process not seen before is not counted


def test_sustained_is_the_best_level_that_held() -> None:
    nan = float("nan")
    levels = [
        Level(10, 50, 50, 0, 10.0, 5, 20, True),
        Level(20, 100, 100, 0, 19.5, 5, 40, True),
        Level(30, 150, 120, 0, 24.0, 5, 900, False),
    ]
    assert sustained(levels) == 19.5
    assert sustained([Level(10, 50, 10, 40, 2.0, nan, nan, False)]) == 0.0


def test_the_hardened_flow_does_more_database_work_per_payment_than_the_seed() -> None:
    seed, hardened = modelled_effects("seed"), modelled_effects("hardened")
    assert seed["stripe"] == hardened["stripe"] == 1
    assert hardened["postgres"] > seed["postgres"] > 0
    # the seed's cache check, lock, put and release; hardened joins them in two scripts
    assert seed["redis"] == 4 and hardened["redis"] == 2


def _args(**over: float) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([])
    for k, v in over.items():
        setattr(args, k, v)
    return args


def _level(rate: float, held: bool) -> Level:
    return Level(rate, int(rate), int(rate), 0, rate, 5, 50 if held else 900, held)


def test_the_ramp_grows_then_bisects_between_the_last_held_and_the_first_failed_rate() -> None:
    args = _args(growth=2.0, bisect=2, max_rate=1000.0)
    levels = [_level(100, True)]
    assert next_rate(levels, args) == 200
    levels.append(_level(200, False))
    assert next_rate(levels, args) == 200  # a failed level is offered once more
    levels.append(_level(200, False))
    mid = next_rate(levels, args)
    assert mid is not None and 100 < mid < 200 and abs(mid - 141.42) < 0.01
    levels.append(_level(mid, True))
    upper = next_rate(levels, args)
    assert upper is not None and mid < upper < 200
    levels.append(_level(upper, False))
    assert next_rate(levels, args) == upper
    levels.append(_level(upper, False))
    assert next_rate(levels, args) is None  # two bisection levels spent
    assert next_rate([_level(10, False), _level(10, False)], args) is None  # nothing held
    assert next_rate([_level(600, True)], args) is None  # the next step passes --max-rate
    close = [_level(100, True), _level(104, False), _level(104, False)]
    assert next_rate(close, _args(bisect=5)) is None  # within 5 %: found


def test_a_level_that_fails_once_and_then_holds_does_not_end_the_ramp() -> None:
    args = _args(growth=2.0, bisect=2, max_rate=1000.0)
    levels = [_level(100, True), _level(200, False)]
    assert next_rate(levels, args) == 200
    levels.append(_level(200, True))  # the repeat held: a pause, not the knee
    assert next_rate(levels, args) == 400
    assert sustained(levels) == 200


def test_an_endpoint_that_falls_behind_sheds_requests_instead_of_queueing_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import loadtests.bench.ramp as ramp

    monkeypatch.setattr(ramp, "MAX_IN_FLIGHT", 3)
    sent = 0

    class Stuck:
        async def post(self, *a: object, **k: object) -> object:
            nonlocal sent
            sent += 1
            await asyncio.sleep(0.5)  # never answers within the level
            raise HTTPError("stuck")

    level = asyncio.run(ramp.offer(Stuck(), ["http://x"], 100, 0.1, "m", 250))  # type: ignore[arg-type]
    assert sent == 3  # the rest were never sent
    assert level.sent == 10 and level.ok == 0 and not level.held
    assert level.p99_ms == float("inf")


def _metered(name: str) -> Meter:
    meter = Meter(name, ["http://127.0.0.1:1", "http://127.0.0.1:2"])
    meter.levels = [_level(10, True), _level(20, False)]
    meter.paid = 100
    before = {"servers": {1: 1.0}, "postgres": {}}
    after = {"servers": {1: 1.5}, "postgres": {7: 0.2}}
    flow = name != "bare"
    meter.add(
        before,
        after,
        redis_cmds=300,
        pg_tx=40,
        rt0={"redis": 0.0, "postgres": 0.0} if flow else None,
        rt1={"redis": 200.0, "postgres": 150.0} if flow else None,
    )
    return meter


def test_a_meter_charges_what_its_endpoint_used_per_payment() -> None:
    res = _metered("hardened").result()
    assert res.sustained_per_s == 10 and res.servers == 2
    assert res.redis_commands_per_payment == 3.0 and res.postgres_tx_per_payment == 0.4
    assert res.round_trips_per_payment == {"redis": 2.0, "postgres": 1.5}
    assert res.cpu_ms_per_payment == {"servers": 5.0, "postgres": 2.0}
    assert res.modelled == modelled_effects("hardened")
    bare = _metered("bare").result()
    assert bare.modelled == {"redis": 0, "postgres": 0, "stripe": 1}
    assert bare.round_trips_per_payment == {"redis": 0.0, "postgres": 0.0}


def test_the_bench_report_renders_the_summary_as_tables() -> None:
    results = [_metered("bare").result(), _metered("hardened").result()]
    summary = summarise(results, {"redis_ops_per_s": 1234.56}, _args())
    assert summary["ratio_hardened_to_bare"] == 1.0
    assert summary["endpoints"]["hardened"]["levels"][1]["held"] is False
    lines = render_bench(summary).splitlines()
    assert lines[0].startswith("# payharness bench live (")
    assert "2 server processes per endpoint, p99 SLO 250 ms)" in lines[0]
    assert "| hardened | 10 | 3.0 | 0.4 | 2.0 / 1.5 | 2 / " in "\n".join(lines)
    assert "| hardened | 5.0 | None | None | 2.0 | None |" in lines
    assert "hardened / bare = 1.0 (target >= 0.6)" in lines
    assert lines[-1] == "| redis_ops_per_s | 1234.6 |"


def test_a_level_is_described_on_one_line_and_marked_when_over() -> None:
    assert describe(_level(100, True)) == (
        "  100.0/s offered:   100.0/s ok, p50    5.0 ms, p99    50.0 ms, errors 0"
    )
    assert describe(_level(100, False)).endswith("errors 0  <- over")
