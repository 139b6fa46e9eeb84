"""A lean HTTP/1.1 keep-alive client for ``payharness bench live``'s open-loop generator.

httpx (through httpcore) spends more CPU per request the more requests are open at once: its
pool re-examines every queued request and connection whenever one changes state. A slower
endpoint keeps more requests open, so the generator cost about twice as much per hardened
payment as per bare one (3.13 against 1.58 ms), and on a saturated two-core machine that CPU
is taken from the endpoint being measured. This client costs the same per request whatever
the concurrency: a free list of idle keep-alive connections per target, one ``write`` per
request, an ``asyncio.Protocol`` that parses the status line and ``Content-Length`` framed
body of the answer, and a per-request deadline.

It speaks just enough HTTP/1.1 for the bench's own servers (uvicorn): requests with a
``Content-Length`` body, answers framed by ``Content-Length`` (chunked answers are refused
as an error), ``Connection: close`` honoured. Loopback or any ``http://host:port``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from urllib.parse import urlsplit


class HTTPError(Exception):
    """The request failed before a complete answer arrived (connect, reset, timeout, framing)."""


class _Conn(asyncio.Protocol):
    """One keep-alive connection; at most one request at a time."""

    __slots__ = ("_buf", "_close_after", "_waiter", "alive", "transport")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._waiter: asyncio.Future[int] | None = None
        self._close_after = False
        self.alive = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.alive = False
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(HTTPError(f"connection lost: {exc}"))

    def request(self, data: bytes, waiter: asyncio.Future[int]) -> None:
        self._waiter = waiter
        self._buf.clear()
        assert self.transport is not None
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(buf[:end]).lower()
        length = 0
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            stop = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : stop if stop >= 0 else len(head)])
        elif b"\r\ntransfer-encoding:" in head:
            self._fail(HTTPError("chunked answers are not supported"))
            return
        if len(buf) < end + 4 + length:
            return
        if len(buf) > end + 4 + length:
            self._fail(HTTPError("more bytes than the answer's Content-Length"))
            return
        self._close_after = b"\r\nconnection: close" in head
        status = int(head[9:12])
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(status)

    def eof_received(self) -> bool:
        self.alive = False
        return False

    def _fail(self, exc: Exception) -> None:
        self.alive = False
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def reusable(self) -> bool:
        return self.alive and not self._close_after and self._waiter is None


class RawClient:
    """``await client.post(url, body, headers)`` → the answer's status code."""

    def __init__(self, timeout_s: float = 10.0, max_idle: int = 256) -> None:
        self.timeout_s = timeout_s
        self.max_idle = max_idle
        self._idle: dict[tuple[str, int], list[_Conn]] = {}
        self._open: set[_Conn] = set()

    async def __aenter__(self) -> RawClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for conn in list(self._open):
            if conn.transport is not None:
                conn.transport.close()
        self._open.clear()
        self._idle.clear()

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        path = parts.path or "/"
        head = (
            f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            + "\r\n"
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        idle = self._idle.setdefault((host, port), [])
        conn = None
        while idle:
            candidate = idle.pop()
            if candidate.reusable():
                conn = candidate
                break
        if conn is None:
            try:
                _, fresh = await asyncio.wait_for(
                    loop.create_connection(_Conn, host, port), self.timeout_s
                )
            except (OSError, TimeoutError) as exc:
                raise HTTPError(f"connect to {host}:{port}: {exc}") from exc
            conn = fresh
            self._open.add(conn)
        waiter: asyncio.Future[int] = loop.create_future()
        timer = loop.call_at(deadline, _expire, waiter)
        try:
            conn.request(head.encode() + body, waiter)
            status = await waiter
        except BaseException:
            self._discard(conn)
            raise
        finally:
            timer.cancel()
        if conn.reusable() and len(idle) < self.max_idle:
            idle.append(conn)
        else:
            self._discard(conn)
        return status

    def _discard(self, conn: _Conn) -> None:
        conn.alive = False
        self._open.discard(conn)
        if conn.transport is not None:
            conn.transport.close()


def _expire(waiter: asyncio.Future[int]) -> None:
    if not waiter.done():
        waiter.set_exception(HTTPError("timed out"))
