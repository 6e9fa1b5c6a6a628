"""The HTTP server cuts off clients that stall mid-request (real uvicorn, raw sockets), and
ticks once a second yet stops at once when asked."""

from __future__ import annotations

import asyncio
import functools
import signal
import threading
import time
import urllib.request
from collections.abc import AsyncIterator

import pytest
from pydantic import BaseModel

from shared.http import create_service_app
from shared.server import H11HeaderDeadlineProtocol, Server, server_config
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
    server = Server(server_config(app, settings, host="127.0.0.1", port=0, **overrides))
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


def _server_in_a_thread(
    tick_s: float, server_class: type[Server] = Server
) -> tuple[Server, threading.Thread]:
    """A served app in a thread of its own (no signal handlers there); started."""
    settings = build_settings(ServiceSettings)
    app = create_service_app(
        service="server-test", title="t", description="d", readiness=_ready, settings=settings
    )
    server = server_class(server_config(app, settings, host="127.0.0.1", port=0))
    server.TICK_S = tick_s
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "server failed to start"
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    return server, thread


def test_a_stop_request_ends_the_server_without_waiting_for_its_tick() -> None:
    server, thread = _server_in_a_thread(tick_s=3600.0)
    server.handle_exit(signal.SIGTERM, None)  # what the SIGTERM handler calls
    thread.join(timeout=15)
    assert not thread.is_alive()  # it would have slept until the next tick, an hour on


def test_each_tick_refreshes_the_date_header() -> None:
    ticks: list[int] = []

    class Recording(Server):
        async def on_tick(self, counter: int) -> bool:
            ticks.append(counter)
            return await super().on_tick(counter)

    server, thread = _server_in_a_thread(tick_s=0.05, server_class=Recording)
    try:
        port = server.servers[0].sockets[0].getsockname()[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
            assert response.headers["Date"]
        deadline = time.monotonic() + 10
        while len(ticks) < 5:
            assert time.monotonic() < deadline, "the server did not tick"
            time.sleep(0.02)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
    # uvicorn's on_tick refreshes the Date header when the counter is a multiple of 10.
    assert all(counter % 10 == 0 for counter in ticks)
    assert len(set(ticks)) == len(ticks)
