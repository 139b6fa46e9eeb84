"""Fixtures for the live tests: real Redis and Postgres (the machine's), a Stripe mock and API
servers started here. Each fixture skips with the reason when a service cannot be reached
(the top-level conftest turns that into a failure when PAYHARNESS_REQUIRE_LIVE=1).

Isolation: one Postgres schema ``ph_test_<run>`` (created, migrated, dropped) and one Redis
key prefix ``phtest:<run>:`` (its keys deleted at the end) per test session.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from live.config import LiveConfig
from tests.live.helpers import KEYRING
from tests.live.stack import REPO, Proc, ServerPool, start_mock, start_paypal_standin


@dataclass(frozen=True)
class LiveRun:
    config: LiveConfig
    log_dir: Path
    run_id: str


def _redis_problem(url: str) -> str | None:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
        client.close()
    except (redis.RedisError, OSError) as exc:
        return f"Redis not reachable at {url}: {exc}"
    return None


def _postgres_problem(url: str) -> str | None:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"Postgres not reachable at {url}: {str(exc).strip()}"
    return None


def _node_problem() -> str | None:
    if shutil.which("node") is None:
        return "node is not on PATH (needed for stripe-stateful-mock)"
    if not (REPO / "node_modules" / "stripe-stateful-mock").exists():
        if shutil.which("npm") is None:
            return "node_modules missing and npm not on PATH"
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=REPO, timeout=300, check=False
        )
        if done.returncode != 0:
            return "`npm ci` failed"
    return None


@pytest.fixture(scope="session")
def live_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRun]:
    """Redis + Postgres reachable, a fresh schema migrated, a fresh key prefix."""
    from live.migrate import drop_schema, migrate
    from live.redis_store import RedisStore

    base = LiveConfig.from_env()
    for problem in (_redis_problem(base.redis_url), _postgres_problem(base.database_url)):
        if problem:
            pytest.skip(problem)
    run_id = uuid.uuid4().hex[:10]
    config = base.with_changes(
        db_schema=f"ph_test_{run_id}", redis_prefix=f"phtest:{run_id}:", variant="hardened"
    )
    asyncio.run(migrate(config.database_url, config.db_schema))
    KEYRING.configure(config)
    log_dir = tmp_path_factory.mktemp("live-logs")
    try:
        yield LiveRun(config, log_dir, run_id)
    finally:

        async def cleanup() -> None:
            await drop_schema(config.database_url, config.db_schema)
            store = RedisStore(config.redis_url, config.redis_prefix)
            await store.delete_prefix()
            await store.close()

        asyncio.run(cleanup())


@pytest.fixture(scope="session")
def stripe_mock(live_base: LiveRun) -> Iterator[Proc]:
    problem = _node_problem()
    if problem:
        pytest.skip(problem)
    proc = start_mock(live_base.log_dir)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def live(live_base: LiveRun, stripe_mock: Proc) -> LiveRun:
    """The run's config pointing at the session's mock."""
    config = live_base.config.with_changes(stripe_api_base=f"http://127.0.0.1:{stripe_mock.port}")
    return LiveRun(config, live_base.log_dir, live_base.run_id)


@pytest.fixture(scope="session")
def servers(live: LiveRun) -> Iterator[ServerPool]:
    """A pool for starting API servers (each stopped at session end)."""
    pool = ServerPool(live.config.to_env(), live.log_dir)
    try:
        yield pool
    finally:
        pool.stop_all()


SLOW_KEYS = "slow-"
"""Keys starting with this pause 1 s after the charge on the shared servers (fault point),
so a test can act while such a request is between the charge and the commit."""


@pytest.fixture(scope="session")
def three_servers(servers: ServerPool) -> list[str]:
    """Three hardened servers sharing Redis, Postgres and the mock: their base URLs."""
    env = {"PAYHARNESS_FAULTS": "after_charge=pause:1000", "PAYHARNESS_FAULT_KEYS": SLOW_KEYS}
    return [f"http://127.0.0.1:{p.port}" for p in servers.start_many(3, env)]


@pytest.fixture(scope="session")
def paypal_standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    """The PayPal stand-in, search lag 0 (so lookups can be compared at once), ``fail``."""
    proc = start_paypal_standin(tmp_path_factory.mktemp("paypal-logs"))
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def paypal_live(live_base: LiveRun, paypal_standin: Proc) -> LiveRun:
    """The run's config with the PayPal adapter pointed at the session's stand-in."""
    config = live_base.config.with_changes(
        provider="paypal",
        paypal_api_base=f"http://127.0.0.1:{paypal_standin.port}",
        stripe_lists_charges=False,
    )
    return LiveRun(config, live_base.log_dir, live_base.run_id)


@pytest.fixture(scope="session")
def paypal_three_servers(paypal_live: LiveRun) -> Iterator[list[str]]:
    """Three hardened servers on the PayPal adapter, sharing Redis, Postgres, the stand-in."""
    pool = ServerPool(paypal_live.config.to_env(), paypal_live.log_dir)
    try:
        yield [f"http://127.0.0.1:{p.port}" for p in pool.start_many(3)]
    finally:
        pool.stop_all()
