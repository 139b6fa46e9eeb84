"""The idempotency store and locks on real Redis (redis-py asyncio).

- A lock is ``SET key token NX PX ttl``; release with a token is a Lua compare-and-delete
  (redis.io "Distributed locks with Redis"), without one a plain ``DEL`` (the seed).
- A cached response is the ``Response`` serialised as JSON with a ``PX`` TTL.
- ``CacheGetOrLock`` (hardened) is one Lua script: the cached response if there is one, else
  ``SET lock token NX PX ttl``; the seed's two steps stay a ``GET`` and a ``SET NX``.
- ``CachePutAndRelease`` (hardened) is one Lua script too: ``SET cache … PX ttl``, then the
  release; the seed's two steps stay a ``SET`` and a ``DEL``.
- Keys come from the core (``core.flows.payment.RedisKeys``); hardened keys carry a hash tag
  ``{merchant:key}`` so a key's lock and cache share one Redis Cluster slot. The adapter only
  prepends a per-deployment prefix without braces, which leaves that hash tag in charge.
- ``redis+cluster://host:port`` selects redis-py's cluster client; every command touches one
  key, so only the hash tag decides where a key's lock and cached answer live.
- Connection errors and timeouts become ``Unavailable``: the flow decides what that means.
  A command (connection, send and reply) is bounded by the store's timeout.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from dataclasses import fields
from typing import Any, TypeVar, cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from core.domain import Outcome, Response
from core.effects import Unavailable

CLUSTER_SCHEME = "redis+cluster://"
T = TypeVar("T")

RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


GET_OR_LOCK_SCRIPT = """
local cached = redis.call('GET', KEYS[1])
if cached then
  return {1, cached}
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {0, 1}
end
return {0, 0}
"""
"""``CacheGetOrLock``: the cached answer, or whether the lock was taken, in one round trip.
KEYS[1] is the cache key, KEYS[2] the lock; hardened's keys share a hash tag, so a cluster
runs the script on the one shard that holds both."""


PUT_AND_RELEASE_SCRIPT = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if ARGV[3] == '1' then
  return redis.call('DEL', KEYS[2])
end
if redis.call('GET', KEYS[2]) == ARGV[4] then
  return redis.call('DEL', KEYS[2])
end
return 0
"""
"""``CachePutAndRelease``: ``SET cache answer PX ttl``, then the release (a plain ``DEL`` when
ARGV[3] is '1', else compare-and-delete by the token in ARGV[4]) in one round trip. KEYS[1]
is the cache key, KEYS[2] the lock, on one slot as for ``GET_OR_LOCK_SCRIPT``."""


_RESPONSE_FIELDS = tuple(f.name for f in fields(Response))


def response_to_json(response: Response) -> str:
    # Every field is a str, int, bool, None or the Outcome enum: no nested dataclass to
    # recurse into, so a plain dict replaces ``asdict`` (which deep-copies every field).
    data = {name: getattr(response, name) for name in _RESPONSE_FIELDS}
    data["outcome"] = response.outcome.value
    data["replayed"] = False  # the stored answer is the original; replays are marked on read
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def response_from_json(text: str | bytes) -> Response:
    data: dict[str, Any] = json.loads(text)
    data["outcome"] = Outcome(data["outcome"])
    return Response(**data)


class RedisStore:
    """Cache and lock operations under one key prefix."""

    def __init__(self, url: str, prefix: str, *, timeout_s: float = 2.0) -> None:
        self.prefix = prefix
        self.round_trips = 0
        """Commands this store sent (one round trip each): ``GET /stats``."""
        self.cluster = url.startswith(CLUSTER_SCHEME)
        self.client: aioredis.Redis | RedisCluster
        if self.cluster:
            # redis+cluster://host:port: redis-py's cluster client, seeded from one node.
            self.client = RedisCluster.from_url(
                "redis://" + url[len(CLUSTER_SCHEME) :],
                socket_timeout=timeout_s,
                socket_connect_timeout=timeout_s,
            )
        else:
            # No socket_timeout: redis-py would wrap every socket write in asyncio.wait_for,
            # a new Task per command. Each command is bounded by ``asyncio.timeout`` below
            # instead (connect, send and reply together); on expiry redis-py drops the
            # connection it was using, as it does for its own read timeout.
            self.client = aioredis.Redis.from_url(
                url,
                socket_timeout=None,
                socket_connect_timeout=timeout_s,
                retry_on_timeout=False,
                health_check_interval=30,
            )
        self.timeout_s = timeout_s
        self._release = self.client.register_script(RELEASE_SCRIPT)
        self._get_or_lock = self.client.register_script(GET_OR_LOCK_SCRIPT)
        self._put_and_release = self.client.register_script(PUT_AND_RELEASE_SCRIPT)

    def k(self, key: str) -> str:
        return self.prefix + key

    async def close(self) -> None:
        await self.client.aclose()

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(self.timeout_s):
                return bool(await cast(Awaitable[Any], self.client.ping()))
        except (RedisError, OSError) as exc:
            raise Unavailable(f"redis: {exc}") from exc

    async def _command(self, what: str, command: Awaitable[T]) -> T:
        """Send one command (one round trip), bounded by the store's timeout; a connection
        error or the timeout becomes ``Unavailable`` naming the command."""
        self.round_trips += 1
        try:
            async with asyncio.timeout(self.timeout_s):
                return await command
        except (RedisError, OSError) as exc:  # TimeoutError is an OSError
            raise Unavailable(f"redis: {what} failed: {exc}") from exc

    async def cache_get(self, key: str) -> Response | None:
        raw = await self._command("GET", self.client.get(self.k(key)))
        if raw is None:
            return None
        return response_from_json(raw)

    async def cache_put(self, key: str, response: Response, ttl_ms: int) -> None:
        value = response_to_json(response)
        await self._command("SET", self.client.set(self.k(key), value, px=ttl_ms))

    async def lock_acquire(self, key: str, token: str, ttl_ms: int) -> bool:
        command = self.client.set(self.k(key), token, nx=True, px=ttl_ms)
        return bool(await self._command("SET NX", command))

    async def cache_get_or_lock(
        self, cache_key: str, lock_key: str, token: str, ttl_ms: int
    ) -> Response | bool:
        """The cached answer for ``cache_key``, else whether ``lock_key`` is now ours."""
        command = self._get_or_lock(
            keys=[self.k(cache_key), self.k(lock_key)], args=[token, ttl_ms]
        )
        found, value = await self._command("GET or SET NX", command)
        if found:
            return response_from_json(value)
        return bool(value)

    async def lock_release(self, key: str, token: str | None) -> bool:
        if token is None:
            command = self.client.delete(self.k(key))
        else:
            command = self._release(keys=[self.k(key)], args=[token])
        return bool(await self._command("release", command))

    async def cache_put_and_release(
        self, cache_key: str, response: Response, ttl_ms: int, lock_key: str, token: str | None
    ) -> bool:
        """Cache ``response``, then release ``lock_key`` as ``lock_release`` would."""
        command = self._put_and_release(
            keys=[self.k(cache_key), self.k(lock_key)],
            args=[response_to_json(response), ttl_ms, "1" if token is None else "0", token or ""],
        )
        return bool(await self._command("SET and release", command))

    async def delete_prefix(self, *, batch: int = 500, max_keys: int = 10_000_000) -> int:
        """Delete every key under this store's prefix (and nothing else): SCAN + UNLINK.

        This is how tests 'flush' Redis without touching other users' data."""
        deleted = 0
        seen = 0
        async for key in self.client.scan_iter(match=self.prefix + "*", count=batch):
            seen += 1
            deleted += int(await self.client.unlink(key))
            if seen >= max_keys:
                break
        return deleted
