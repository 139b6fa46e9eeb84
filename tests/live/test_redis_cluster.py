"""The idempotency store on a Redis Cluster (three masters started here on loopback):
hash-tagged keys put a key's lock and cached answer in one slot, the Lua release works on
the cluster client, and three hardened servers charge once for concurrent duplicates."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from core.domain import Outcome, PaymentRequest, Response
from core.flows.payment import RedisKeys
from core.variants import HARDENED
from live.redis_store import RedisStore
from tests.live.conftest import LiveRun
from tests.live.helpers import body_for, mock_charges, post_until_settled, unique
from tests.live.stack import ServerPool

pytestmark = [
    pytest.mark.live,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]

NODES = 3


def _free_pair() -> int:
    """A port P with P and its cluster-bus port P+10000 both free on loopback."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 10000 > 65535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.skip("redis-server/redis-cli not on PATH: cannot start a local Redis Cluster")
    work = tmp_path_factory.mktemp("redis-cluster")
    ports: list[int] = []
    while len(ports) < NODES:
        p = _free_pair()
        if p not in ports:
            ports.append(p)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            procs.append(
                subprocess.Popen(
                    ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                     "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
                     "--dir", str(work), "--save", "", "--appendonly", "no"],
                    stdout=(work / f"{port}.log").open("wb"),
                    stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
        for port in ports:
            _wait(lambda port=port: _cli(port, "ping") == "PONG", f"node {port}")  # type: ignore[misc]
        created = subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert created.returncode == 0, created.stdout + created.stderr
        for port in ports:
            _wait(
                lambda port=port: "cluster_state:ok" in _cli(port, "cluster", "info"),  # type: ignore[misc]
                f"cluster state at {port}",
            )
        yield f"redis+cluster://127.0.0.1:{ports[0]}"
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _cli(port: int, *args: str) -> str:
    done = subprocess.run(
        ["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=10
    )
    return done.stdout.strip()


def _wait(check: object, what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready within {timeout_s}s")


def test_lock_and_cache_share_a_slot_and_release_checks_the_token(cluster_url: str) -> None:
    request = PaymentRequest("merchant-1", "o", 1999, "usd", "tok_visa", "key-1")
    keys = RedisKeys.for_request(HARDENED, request)
    answer = Response(201, Outcome.PAID, "payment_completed", payment_id="pay_1")

    async def scenario() -> tuple[int, int, bool, bool, bool, Response | None, int]:
        store = RedisStore(cluster_url, "phtest:cluster:")
        try:
            lock_slot = await store.client.execute_command("CLUSTER KEYSLOT", store.k(keys.lock))
            cache_slot = await store.client.execute_command("CLUSTER KEYSLOT", store.k(keys.cache))
            first = await store.lock_acquire(keys.lock, "token-a", 5000)
            second = await store.lock_acquire(keys.lock, "token-b", 5000)
            wrong = await store.lock_release(keys.lock, "token-b")
            assert await store.lock_release(keys.lock, "token-a")
            # The one-step check and lock runs as one script on the slot both keys share.
            assert await store.cache_get_or_lock(keys.cache, keys.lock, "token-c", 5000) is True
            assert await store.cache_get_or_lock(keys.cache, keys.lock, "token-d", 5000) is False
            assert await store.lock_release(keys.lock, "token-c")
            await store.cache_put(keys.cache, answer, 5000)
            cached = await store.cache_get(keys.cache)
            assert await store.cache_get_or_lock(keys.cache, keys.lock, "token-e", 5000) == answer
            # So does the put-and-release: the answer cached, the lock released by its token.
            assert await store.lock_acquire(keys.lock, "token-f", 5000)
            put = store.cache_put_and_release
            assert not await put(keys.cache, answer, 5000, keys.lock, "token-g")  # not ours
            assert await put(keys.cache, answer, 5000, keys.lock, "token-f")
            assert await store.client.exists(store.k(keys.lock)) == 0
            deleted = await store.delete_prefix()
            return lock_slot, cache_slot, first, second, wrong, cached, deleted
        finally:
            await store.close()

    lock_slot, cache_slot, first, second, wrong, cached, deleted = asyncio.run(scenario())
    assert lock_slot == cache_slot
    assert first and not second and not wrong
    assert cached == answer
    assert deleted == 1


def test_three_servers_on_a_cluster_charge_once(
    live: LiveRun, servers: ServerPool, cluster_url: str
) -> None:
    env = {"PAYHARNESS_REDIS_URL": cluster_url}
    urls = [f"http://127.0.0.1:{p.port}" for p in servers.start_many(3, env)]
    merchant, key = unique("m-cluster-"), unique("k-")
    body = body_for(merchant, "o-1")

    async def scenario() -> list[object]:
        async with httpx.AsyncClient(timeout=30) as client:
            done = await asyncio.gather(
                *(post_until_settled(client, urls[i % 3], key, body) for i in range(15))
            )
            return [d[0] for d in done]

    finals = asyncio.run(scenario())
    assert {f.status for f in finals} == {201}  # type: ignore[attr-defined]
    assert len({str(f.body) for f in finals}) == 1  # type: ignore[attr-defined]
    assert len(asyncio.run(mock_charges(live.config, merchant))) == 1
