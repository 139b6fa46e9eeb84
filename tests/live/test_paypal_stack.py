"""``payharness stack up --provider paypal``: the stand-in instead of the Stripe mock, a
server on the PayPal adapter, the audit from the servers' call logs; ``down`` stops exactly
what ``up`` started."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from live.audit_source import live_final_state
from live.config import LiveConfig
from tests.live.conftest import LiveRun
from tests.live.helpers import body_for, post, unique
from tests.live.stack import REPO, free_port

pytestmark = [pytest.mark.live]


def test_stack_up_with_the_paypal_standin(live_base: LiveRun, tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, **live_base.config.to_env(), "PAYHARNESS_OUT": str(out)}
    server_port, standin_port = free_port(), free_port()
    ports = ["--base-port", str(server_port), "--paypal-port", str(standin_port)]

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "payharness", "stack", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    up = cli("up", "--provider", "paypal", "--servers", "1", *ports, "--no-reconciler",
             "--paypal-search-lag-ms", "0")  # fmt: skip
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        state = json.loads((out / "stack" / "state.json").read_text())
        assert [p["name"] for p in state["processes"]] == ["paypal-standin", "server-0"]
        recorded = LiveConfig.from_stack_state(out / "stack" / "state.json", env={})
        assert recorded.provider == "paypal"
        assert recorded.paypal_api_base == f"http://127.0.0.1:{standin_port}"
        merchant = unique("m-pp-stack-")
        url = f"http://127.0.0.1:{server_port}"

        async def scenario() -> list[int]:
            async with httpx.AsyncClient(timeout=30) as client:
                key = unique("k-")
                first = await post(client, url, key, body_for(merchant, "o-1"))
                again = await post(client, url, key, body_for(merchant, "o-1"))
                declined = await post(
                    client,
                    url,
                    unique("k-"),
                    body_for(merchant, "o-2", source="tok_chargeDeclined"),
                )
                return [first.status, again.status, declined.status]

        assert asyncio.run(scenario()) == [201, 201, 402]
        logs = [str(out / "stack" / "calls-0.jsonl")]
        final = asyncio.run(live_final_state(recorded, variant="hardened", call_logs=logs))
        mine = [c for c in final.charges if c.merchant == merchant]
        assert final.charges_listed is False
        assert sorted((c.order, c.succeeded) for c in mine) == [("o-1", True), ("o-2", False)]
        captures = httpx.get(f"http://127.0.0.1:{standin_port}/_standin/captures").json()
        assert captures["count"] == 2  # the stack's own, new stand-in
        status = cli("status")
        assert status.returncode == 0 and "ready" in status.stdout, status.stdout
    finally:
        down = cli("down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert cli("status").returncode == 1
