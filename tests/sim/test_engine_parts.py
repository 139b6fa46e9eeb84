"""Small parts of the world: history records, latency distributions, pools, backoff, the
client timer."""

from __future__ import annotations

import random
import statistics

import simpy

from core.domain import Outcome, PaymentRequest, Response, fingerprint
from core.history import request_event, response_event
from core.variants import HARDENED
from sim.backends import Pool
from sim.bench import steady_scenario
from sim.clients import TIMED_OUT, ClientTimer, backoff_us
from sim.engine import SimWorld
from sim.latency import Latency
from tests.sim.conftest import scenario

REQUEST = PaymentRequest("m1", "o1", 1999, "usd", "tok_visa", "key-1")


def test_a_precomputed_fingerprint_gives_the_same_records() -> None:
    fp = fingerprint(REQUEST)
    assert request_event(5, "a1", "c1", REQUEST, fp) == request_event(5, "a1", "c1", REQUEST)
    response = Response(201, Outcome.PAID, "payment_completed", "", "pay_1", "m1", "o1", 1999,
                        "usd", "ch_1", fp, True, None)  # fmt: skip
    assert response_event(7, "a1", "c1", REQUEST, response, fp) == response_event(
        7, "a1", "c1", REQUEST, response
    )


def test_lognormal_latency_has_the_requested_median_and_p99() -> None:
    sample = Latency(400.0, 1500.0).sampler(random.Random(1))
    values = sorted(sample() / 1000 for _ in range(40_000))
    assert abs(statistics.median(values) - 400) < 15
    assert abs(values[int(0.99 * len(values))] - 1500) < 120


def test_heavy_tail_slows_the_stated_share_of_calls() -> None:
    plain = Latency(10.0, 20.0).sampler(random.Random(2))
    tailed = Latency(10.0, 20.0, tail_probability=0.05, tail_factor=100.0).sampler(random.Random(2))
    slow = sum(1 for _ in range(20_000) if tailed() > 200_000)
    assert sum(1 for _ in range(20_000) if plain() > 200_000) == 0
    assert 800 < slow < 1200


def test_pool_serves_in_arrival_order_when_full() -> None:
    env = simpy.Environment()
    pool = Pool(env, 2)
    order: list[int] = []

    def user(i: int) -> object:
        wait = pool.acquire()
        if wait is not None:
            yield wait
        order.append(i)
        yield env.timeout(10)
        pool.release()

    for i in range(5):
        env.process(user(i))
    env.run()
    assert order == [0, 1, 2, 3, 4]
    assert pool.used == 0 and not pool.waiters
    assert env.now == 30


def test_backoff_follows_the_stripe_sdk_schedule() -> None:
    policy, rng = scenario("steady_state").client, random.Random(3)
    for retries, low, high in ((1, 500, 500), (2, 500, 1000), (3, 1000, 2000), (5, 2500, 5000)):
        for _ in range(50):
            delay_ms = backoff_us(policy, retries, None, rng) / 1000
            assert low <= delay_ms <= high, (retries, delay_ms)
    assert backoff_us(policy, 1, 3, rng) == 3_000_000  # Retry-After wins when longer


def test_a_client_times_out_at_its_deadline_unless_answered_first() -> None:
    env = simpy.Environment()
    timer = ClientTimer(env)
    answered, silent, late = env.event(), env.event(), env.event()
    seen: dict[str, tuple[float, object]] = {}

    def client(name: str, wake: simpy.Event, deadline: int) -> object:
        timer.expire_at(deadline, wake)
        value = yield wake
        seen[name] = (env.now, value)

    def server() -> object:
        yield env.timeout(5)
        answered.succeed("201")
        yield env.timeout(50)
        assert late.triggered  # past its deadline: the client already gave up on it

    env.process(client("answered", answered, 10))
    env.process(client("silent", silent, 20))
    env.process(client("late", late, 30))
    env.process(server())
    env.run(until=100)
    assert seen["answered"] == (5, "201")
    assert seen["silent"][0] == 20 and seen["silent"][1] is TIMED_OUT
    assert seen["late"][0] == 30 and seen["late"][1] is TIMED_OUT


def test_a_provider_slower_than_the_client_timeout_makes_clients_retry() -> None:
    base = steady_scenario(200)
    slow = base.with_params(
        {"client.timeout_ms": 300, "topology.stripe_median_ms": 600.0,
         "topology.stripe_p99_ms": 900.0}
    )  # fmt: skip
    fast, sluggish = SimWorld(base, HARDENED), SimWorld(slow, HARDENED)
    fast.run()
    sluggish.run()
    assert fast.metrics.timeouts == 0
    assert sluggish.metrics.timeouts > 100
    assert sluggish.metrics.attempts > fast.metrics.attempts


def test_a_long_run_reports_its_progress_every_simulated_second() -> None:
    reports: list[tuple[int, int]] = []
    sim = SimWorld(
        steady_scenario(6_000),
        HARDENED,
        progress=lambda m: reports.append((m.payments, m.attempts)),
    )
    sim.run()
    assert len(reports) >= int(sim.metrics.end_ms / 1000) - 1
    payments = [p for p, _ in reports]
    assert payments == sorted(payments) and payments[-1] == 6_000
    assert reports[0][0] < 6_000  # it started reporting while payments still arrived
