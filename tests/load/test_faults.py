"""The live fault helpers, each on something the test starts itself."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadtests.faults import (
    FaultTargets,
    PrivateRedis,
    ProcessImage,
    alive,
    flush_redis,
    socket_ports_of,
)
from loadtests.stack import free_port


def test_socket_ports_of_finds_this_process_connection_to_a_port() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    try:
        local = client.getsockname()[1]
        assert socket_ports_of(os.getpid(), port) == {local}
        assert socket_ports_of(os.getpid(), free_port()) == set()
    finally:
        client.close()
        server.close()


def test_a_killed_process_restarts_with_its_command_line_and_environment(tmp_path: Path) -> None:
    marker = tmp_path / "env.txt"
    code = (
        "import os,sys,time; open(sys.argv[1],'a').write(os.environ['PH_MARK']+'\\n'); "
        "time.sleep(60)"
    )
    env = {**os.environ, "PH_MARK": "m1"}
    first = subprocess.Popen([sys.executable, "-c", code, str(marker)], env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 10
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        image = ProcessImage.of(first.pid)
        assert image.cwd == str(tmp_path) and image.env["PH_MARK"] == "m1"
        first.kill()
        first.wait(5)
        assert not alive(first.pid)
        second = image.start(tmp_path / "restart.log")
        try:
            deadline = time.monotonic() + 10
            while marker.read_text().count("m1") < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert marker.read_text().splitlines() == ["m1", "m1"]
            assert alive(second.pid)
        finally:
            second.kill()
            second.wait(5)
    finally:
        if first.poll() is None:
            first.kill()


@pytest.mark.live
def test_flush_touches_only_the_runs_keys_and_a_private_redis_restarts_empty(
    tmp_path: Path,
) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    import redis

    own = PrivateRedis(free_port(), tmp_path).start()
    try:
        client = redis.Redis.from_url(own.url)
        mine = ["lt:r1:idem:{ltrun-m0:ltrun-k-1}:lock", "lt:r1:idempotency:ltrun-k-2"]
        others = ["lt:r1:idem:{other-m0:other-k-1}:lock", "payharness:idem:x", "ltrun-k-3"]
        for key in mine + others:
            client.set(key, "v")
        targets = FaultTargets(
            servers={}, redis_url=own.url, redis_pattern="lt:r1:*ltrun-*", database_url="",
            own_redis=own,
        )  # fmt: skip
        assert flush_redis(targets) == "deleted 2 keys matching lt:r1:*ltrun-*"
        assert sorted(k.decode() for k in client.keys("*")) == sorted(others)
        client.close()
        own.restart()
        client = redis.Redis.from_url(own.url)
        assert client.dbsize() == 0
        client.close()
    finally:
        own.stop()


def test_masked_secrets_of_the_stack_state_come_from_the_environment() -> None:
    from loadtests.stack import StackError, unmasked

    recorded = {"PAYHARNESS_DATABASE_URL": "postgresql://u:***@h/db", "PAYHARNESS_X": "1"}
    own = {"PAYHARNESS_DATABASE_URL": "postgresql://u:secret@h/db"}
    assert unmasked(recorded, own)["PAYHARNESS_DATABASE_URL"].endswith("u:secret@h/db")
    with pytest.raises(StackError, match="PAYHARNESS_DATABASE_URL"):
        unmasked(recorded, {})
