"""``ObservedApp``: the ASGI wrapper that times every request, feeds the request metrics and
writes its JSON log line.

Pure ASGI (not Starlette's ``BaseHTTPMiddleware``, which runs the app in another task): the
handler and the transport run in this task, so they fill the ``RequestRecord`` this wrapper
put in ``request_log.CURRENT``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from live.metrics import LOCK_CONFLICTS, LOCK_WAIT_SECONDS, REPLAYS, REQUEST_SECONDS
from live.request_log import CURRENT, RequestRecord, request_logger

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PAYMENTS = "/payments"
REQUEST_LOG_ENV = "PAYHARNESS_REQUEST_LOG"
"""``0``/``off``/``false``/``no``: no JSON line per request (the metrics stay); default on."""


def request_log_enabled(environ: Mapping[str, str] | None = None) -> bool:
    value = (os.environ if environ is None else environ).get(REQUEST_LOG_ENV, "1")
    return value.strip().lower() not in ("0", "off", "false", "no")


class ObservedApp:
    def __init__(
        self,
        app: ASGIApp,
        logger: logging.Logger | None = None,
        *,
        log_requests: bool | None = None,
    ) -> None:
        self.app = app
        self.log = logger or request_logger()
        self.log_requests = request_log_enabled() if log_requests is None else log_requests
        self._timers: dict[tuple[str, int, str], Any] = {}
        """The request histogram's child per (route, status, outcome): ``labels()`` stringifies
        and looks its arguments up under a lock on every call."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        record = RequestRecord(method=str(scope.get("method", "")))
        token = CURRENT.set(record)
        started = time.perf_counter()

        async def send_observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = int(message["status"])
                headers = [
                    *message.get("headers", []),
                    (b"x-request-id", record.request_id.encode()),
                ]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            CURRENT.reset(token)
            seconds = time.perf_counter() - started
            route = scope.get("route")
            record.route = str(getattr(route, "path", "unmatched"))
            self.finish(record, seconds)

    def finish(self, record: RequestRecord, seconds: float) -> None:
        cell = (record.route, record.status, record.outcome)
        timer = self._timers.get(cell)
        if timer is None:
            timer = REQUEST_SECONDS.labels(record.route, str(record.status), record.outcome)
            self._timers[cell] = timer
        timer.observe(seconds)
        if record.route == PAYMENTS and record.method == "POST":
            if record.status == 409:
                LOCK_CONFLICTS.inc()
            if record.replayed:
                REPLAYS.inc()
            wait = record.lock_wait_s()
            if wait is not None:
                LOCK_WAIT_SECONDS.observe(wait)
        if self.log_requests:
            self.log.info("request", extra={"fields": record.line(seconds)})
