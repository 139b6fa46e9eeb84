"""Before ``stack up`` starts anything: are node (and the mock's packages), Redis and
Postgres there? Each missing piece is named with what to do about it."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from typing import Any

import psycopg
import redis

from live.config import LiveConfig
from live.processes import REPO


def preflight(config: LiveConfig, need_node: bool, echo: Callable[[str], None]) -> str | None:
    """None when Redis, Postgres (and node) are reachable; else a message saying what to do.
    Installs the node packages (``npm ci``) when they are missing."""
    if need_node:
        problem = _node_problem(echo)
        if problem:
            return problem
    return _redis_problem(config) or _postgres_problem(config)


def _node_problem(echo: Callable[[str], None]) -> str | None:
    if shutil.which("node") is None:
        return "node is not on PATH: install Node.js >= 18 to run the Stripe mock"
    if (REPO / "node_modules" / "stripe-stateful-mock").exists():
        return None
    if shutil.which("npm") is None:
        return "node_modules is missing and npm is not on PATH: run `npm ci`"
    echo("installing node packages: npm ci")
    done = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"], cwd=REPO, timeout=600, check=False
    )
    return None if done.returncode == 0 else "`npm ci` failed; see its output above"


def _redis_problem(config: LiveConfig) -> str | None:
    try:
        if config.redis_url.startswith("redis+cluster://"):
            from redis.cluster import RedisCluster

            url = "redis://" + config.redis_url[len("redis+cluster://") :]
            client: Any = RedisCluster.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        else:
            client = redis.Redis.from_url(
                config.redis_url, socket_connect_timeout=2, socket_timeout=2
            )
        client.ping()
        client.close()
    except (redis.RedisError, OSError) as exc:
        return f"Redis is not reachable at {config.redis_url} (PAYHARNESS_REDIS_URL): {exc}"
    return None


def _postgres_problem(config: LiveConfig) -> str | None:
    try:
        with psycopg.connect(config.database_url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return (
            f"Postgres is not reachable at {config.database_url} (PAYHARNESS_DATABASE_URL): "
            f"{str(exc).strip()}"
        )
    return None
