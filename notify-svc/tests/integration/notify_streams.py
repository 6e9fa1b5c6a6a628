"""Streams over a real socket for the tests (ASGITransport buffers whole responses)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn

from testkit import eventually


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """The already started app behind a real HTTP server on a free port (lifespan is ours)."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started, timeout_s=10, what="uvicorn to start")
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)


class Stream:
    """Reads a text/event-stream response into parsed events in the background."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.events: list[dict[str, str]] = []
        self.comments: list[str] = []
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        current: dict[str, str] = {}
        async for line in self.response.aiter_lines():
            if not line:
                if current:
                    self.events.append(current)
                current = {}
            elif line.startswith(":"):
                self.comments.append(line[1:].strip())
            else:
                name, _, value = line.partition(":")
                current[name] = value.removeprefix(" ")

    def ids(self) -> list[str]:
        return [e["id"] for e in self.events if "id" in e]

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await self._task
        await self.response.aclose()


@contextlib.asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> AsyncIterator[Stream]:
    """A stream; `last_event_id=` resumes after that event."""
    last = params.pop("last_event_id", None)
    if last is not None:
        headers = {**headers, "Last-Event-ID": last}
    async with client.stream("GET", "/api/v1/stream", headers=headers, params=params) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = Stream(response)
        try:
            await eventually(lambda: stream.comments, timeout_s=10, what="the stream to open")
            yield stream
        finally:
            await stream.close()
