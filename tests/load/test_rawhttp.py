"""The bench generator's HTTP/1.1 client against a tiny loopback server."""

from __future__ import annotations

import asyncio

import pytest

from loadtests.rawhttp import HTTPError, RawClient


async def _serve(
    handler: object,
) -> tuple[asyncio.base_events.Server, str, list[int]]:
    connections: list[int] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                if not await handler(head, body, writer):  # type: ignore[operator]
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/payments", connections


def _post_once(handler: object, timeout_s: float) -> None:
    """One POST through a fresh client to a server answering with ``handler``."""

    async def scenario() -> None:
        server, url, _ = await _serve(handler)
        async with server, RawClient(timeout_s=timeout_s) as client:
            await client.post(url, b"{}", {})

    asyncio.run(scenario())


def test_answers_are_framed_by_content_length_and_connections_kept_alive() -> None:
    async def handler(head: bytes, body: bytes, writer: asyncio.StreamWriter) -> bool:
        assert head.startswith(b"POST /payments HTTP/1.1\r\n")
        assert b"\r\nidempotency-key: k1\r\n" in head
        answer = b'{"echo":' + body + b"}"
        status = b"201 Created" if body == b'{"a":1}' else b"402 Payment Required"
        # status line and headers in one write, the body in two: the client must wait
        writer.write(b"HTTP/1.1 " + status + b"\r\ncontent-length: %d\r\n\r\n" % len(answer))
        await writer.drain()
        writer.write(answer[:3])
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(answer[3:])
        return True

    async def scenario() -> tuple[list[int], int]:
        server, url, connections = await _serve(handler)
        async with server, RawClient(timeout_s=5) as client:
            statuses = [
                await client.post(url, b'{"a":1}', {"idempotency-key": "k1"}),
                await client.post(url, b'{"a":2}', {"idempotency-key": "k1"}),
                await client.post(url, b'{"a":1}', {"idempotency-key": "k1"}),
            ]
            return statuses, len(connections)

    statuses, opened = asyncio.run(scenario())
    assert statuses == [201, 402, 201]
    assert opened == 1  # one keep-alive connection carried all three


def test_connection_close_opens_a_new_connection_next_time() -> None:
    async def handler(head: bytes, body: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        return False

    async def scenario() -> tuple[list[int], int]:
        server, url, connections = await _serve(handler)
        async with server, RawClient(timeout_s=5) as client:
            statuses = [await client.post(url, b"{}", {}) for _ in range(3)]
            return statuses, len(connections)

    statuses, opened = asyncio.run(scenario())
    assert statuses == [200, 200, 200]
    assert opened == 3


def test_silence_times_out_and_a_closed_port_fails_as_http_errors() -> None:
    async def handler(head: bytes, body: bytes, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(5)
        return False

    with pytest.raises(HTTPError, match="timed out"):
        _post_once(handler, timeout_s=0.2)

    async def refused() -> None:
        server, url, _ = await _serve(handler)
        server.close()
        await server.wait_closed()
        async with RawClient(timeout_s=1) as client:
            await client.post(url, b"{}", {})

    with pytest.raises(HTTPError, match="connect"):
        asyncio.run(refused())


def test_a_server_that_hangs_up_mid_answer_is_an_error() -> None:
    async def handler(head: bytes, body: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 10\r\n\r\nabc")
        await writer.drain()
        return False

    with pytest.raises(HTTPError, match="connection lost"):
        _post_once(handler, timeout_s=5)
