"""``PAYHARNESS_REQUEST_LOG``: the per-request JSON line can be switched off; the request
metrics are kept either way (in-process, no backend)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from typing import Any

import httpx

from live.metrics import REQUEST_SECONDS
from live.observe import ObservedApp, request_log_enabled
from live.request_log import JsonFormatter


async def _ok(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _count() -> float:
    for family in REQUEST_SECONDS.collect():
        for s in family.samples:
            if s.name.endswith("_count") and s.labels == {
                "route": "unmatched", "status": "204", "outcome": "none"
            }:  # fmt: skip
                return s.value
    return 0.0


def _served(log_requests: bool | None, name: str) -> tuple[list[str], float, str]:
    stream = io.StringIO()
    logger = logging.getLogger(f"payharness.test.{name}")
    logger.handlers.clear()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    app = ObservedApp(_ok, logger, log_requests=log_requests)
    before = _count()

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get("/x")

    r = asyncio.run(go())
    return stream.getvalue().splitlines(), _count() - before, r.headers["x-request-id"]


def test_the_log_line_is_written_by_default_and_not_when_switched_off() -> None:
    lines, counted, request_id = _served(True, "on")
    assert [json.loads(x)["request_id"] for x in lines] == [request_id]
    assert counted == 1 and len(request_id) == 16 and int(request_id, 16) >= 0
    lines, counted, _ = _served(False, "off")
    assert lines == [] and counted == 1


def test_the_switch_reads_the_environment() -> None:
    assert request_log_enabled({}) is True
    assert request_log_enabled({"PAYHARNESS_REQUEST_LOG": "1"}) is True
    for off in ("0", "off", "False", " no "):
        assert request_log_enabled({"PAYHARNESS_REQUEST_LOG": off}) is False
