"""The HTTP server cuts off clients that stall mid-request (real uvicorn, raw sockets)."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator

import pytest
import uvicorn
from pydantic import BaseModel

from shared.http import create_service_app
from shared.server import H11HeaderDeadlineProtocol, server_config
from shared.settings import ServiceSettings, build_settings

pytestmark = pytest.mark.integration

READ_TIMEOUT_S = 0.5
# Generous: a stalled client must be cut off, and quickly, but the machine may be busy.
CUT_OFF_WITHIN_S = 10.0


class Thing(BaseModel):
    name: str


async def _ready() -> list[str]:
    return []


@pytest.fixture(params=["httptools", "h11"])
async def port(request: pytest.FixtureRequest) -> AsyncIterator[int]:
    settings = build_settings(ServiceSettings, http_read_timeout_s=READ_TIMEOUT_S)
    app = create_service_app(
        service="server-test", title="t", description="d", readiness=_ready, settings=settings
    )

    @app.post("/things")
    async def create(body: Thing) -> dict[str, str]:
        return {"name": body.name}

    overrides: dict[str, object] = {}
    if request.param == "h11":  # the pure-Python parser gets the same deadline
        overrides["http"] = functools.partial(
            H11HeaderDeadlineProtocol, header_timeout_s=settings.http_read_timeout_s
        )
    server = uvicorn.Server(server_config(app, settings, host="127.0.0.1", port=0, **overrides))
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        assert not task.done(), "server failed to start"
        await asyncio.sleep(0.02)
    yield server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    await asyncio.wait_for(task, timeout=15)


async def _read_all(reader: asyncio.StreamReader) -> bytes:
    """Everything until the server closes the connection (fails if it never does)."""
    return await asyncio.wait_for(reader.read(), timeout=CUT_OFF_WITHIN_S)


async def test_half_sent_headers_are_cut_off(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: ")
    await writer.drain()
    started = time.monotonic()

    assert await _read_all(reader) == b""  # closed without an answer
    assert time.monotonic() - started >= READ_TIMEOUT_S * 0.8
    writer.close()


async def test_half_sent_headers_of_a_second_request_are_cut_off(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
    await writer.drain()
    first = await asyncio.wait_for(reader.readuntil(b'"ok"'), timeout=CUT_OFF_WITHIN_S)
    assert first.startswith(b"HTTP/1.1 200")
    await asyncio.wait_for(reader.readuntil(b"}"), timeout=CUT_OFF_WITHIN_S)

    writer.write(b"GET /healthz HTTP/1.1\r\nHo")
    await writer.drain()

    assert await _read_all(reader) == b""
    writer.close()


async def test_a_half_sent_body_is_answered_408_and_cut_off(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /things HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"name": '
    )
    await writer.drain()

    answer = await _read_all(reader)

    assert answer.startswith(b"HTTP/1.1 408")
    assert b"application/problem+json" in answer
    writer.close()


async def test_a_slow_but_timely_request_is_served(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = b'{"name": "slow"}'
    for part in (
        b"POST /things HTTP/1.1\r\nHost: test\r\n",
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body),
        body,
    ):
        writer.write(part)
        await writer.drain()
        await asyncio.sleep(READ_TIMEOUT_S / 5)

    answer = await asyncio.wait_for(reader.readuntil(b'"slow"}'), timeout=CUT_OFF_WITHIN_S)

    assert answer.startswith(b"HTTP/1.1 200")
    writer.close()
