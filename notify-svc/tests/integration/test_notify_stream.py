"""`GET /api/v1/stream` over a real socket (ASGITransport buffers whole responses)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from notify_helpers import (
    OPS,
    Notify,
    auth,
    credit_code,
    event,
    eventually,
    project,
    project_code,
)

from shared.topics import APPROVAL_PROJECTS

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """The already started app behind a real HTTP server on a free port (lifespan is ours)."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: _started(server), within=10, what="uvicorn to start")
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)


async def _started(server: uvicorn.Server) -> bool:
    return server.started


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
    async with client.stream("GET", "/api/v1/stream", headers=headers, params=params) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = Stream(response)
        try:
            await eventually(lambda: _has(stream.comments), within=10, what="the stream to open")
            yield stream
        finally:
            await stream.close()


async def _has(items: list[Any]) -> bool:
    return bool(items)


async def test_stream_carries_only_what_the_caller_may_see(notify: Notify) -> None:
    a, b = credit_code(), credit_code()
    broadcaster = notify.app.state.notify.broadcaster
    async with (
        serving(notify.app) as url,
        httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(5.0, read=None)) as client,
        open_stream(client, auth("enterprise", credit_code=a)) as stream_a,
        open_stream(client, auth("enterprise", credit_code=b)) as stream_b,
        open_stream(client, auth(**OPS), event_types=["project.approved"]) as stream_ops,
    ):
        assert broadcaster.listener_count == 3
        code_a, code_b = project_code(), project_code()
        a_submitted = event("project.submitted", code_a, project(code_a, a))
        a_approved = event("project.approved", code_a, project(code_a, a))
        b_submitted = event("project.submitted", code_b, project(code_b, b))
        await notify.produce(APPROVAL_PROJECTS, a_submitted, a_approved, b_submitted)

        async def received() -> bool:
            return (
                {a_submitted.id, a_approved.id} <= set(stream_a.ids())
                and b_submitted.id in stream_b.ids()
                and a_approved.id in stream_ops.ids()
            )

        await eventually(received, what="the streamed events")
        await asyncio.sleep(0.5)
        assert b_submitted.id not in stream_a.ids()
        assert a_submitted.id not in stream_b.ids()
        assert a_approved.id not in stream_b.ids()
        # The ops stream asked for one type only.
        assert {e.get("event") for e in stream_ops.events} == {"project.approved"}
        [first] = [e for e in stream_a.events if e.get("id") == a_submitted.id]
        assert first["event"] == "project.submitted"
        payload = json.loads(first["data"])
        assert (payload["id"], payload["type"], payload["subject"]) == (
            a_submitted.id,
            "project.submitted",
            code_a,
        )
        assert payload["data"]["credit_code"] == a

    # Every client went away: their listeners are gone.
    async def released() -> bool:
        return broadcaster.listener_count == 0

    await eventually(released, within=10, what="listeners to be released on disconnect")


async def test_stream_rejects_unknown_event_types(notify: Notify) -> None:
    response = await notify.get("/api/v1/stream", auth(**OPS), event_types="project.eaten")
    assert response.status_code == 422
    assert "event_types" in response.json()["detail"]
