"""`GET /api/v1/stream` over a real socket (ASGITransport buffers whole responses)."""

from __future__ import annotations

import json

import httpx
import pytest
from notify_helpers import Notify, credit_code, event, ops, project, project_code
from notify_streams import open_stream, serving

from shared.events import EventType
from shared.topics import APPROVAL_PROJECTS
from testkit import auth_headers as auth
from testkit import eventually

pytestmark = pytest.mark.integration


async def test_stream_carries_only_what_the_caller_may_see(
    notify: Notify, region_code: str
) -> None:
    a, b = credit_code(), credit_code()
    broadcaster = notify.app.state.notify.broadcaster
    async with (
        serving(notify.app) as url,
        httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(5.0, read=None)) as client,
        open_stream(client, auth("enterprise", credit_code=a)) as stream_a,
        open_stream(client, auth("enterprise", credit_code=b)) as stream_b,
        open_stream(client, ops(), event_types=[EventType.PROJECT_APPROVED]) as stream_ops,
    ):
        assert broadcaster.listener_count == 3
        code_a, code_b = project_code(region_code, 1), project_code(region_code, 2)
        a_submitted = event(EventType.PROJECT_SUBMITTED, code_a, project(code_a, a))
        a_approved = event(EventType.PROJECT_APPROVED, code_a, project(code_a, a))
        b_submitted = event(EventType.PROJECT_SUBMITTED, code_b, project(code_b, b))
        await notify.produce(APPROVAL_PROJECTS, a_submitted, a_approved, b_submitted)

        async def received() -> bool:
            return (
                {a_submitted.id, a_approved.id} <= set(stream_a.ids())
                and b_submitted.id in stream_b.ids()
                and a_approved.id in stream_ops.ids()
            )

        await eventually(received, what="the streamed events")
        # Every event above has gone live to every listener (each was seen on some stream, and
        # one publish fans out to all). Sentinels published now reach each stream after
        # anything it was wrongly given, so once they arrive an absence is proven.
        a_sentinel = event(EventType.PROJECT_APPROVED, code_a, project(code_a, a))
        b_sentinel = event(EventType.PROJECT_APPROVED, code_b, project(code_b, b))
        await notify.produce(APPROVAL_PROJECTS, a_sentinel, b_sentinel)

        async def sentinels_received() -> bool:
            return (
                a_sentinel.id in stream_a.ids()
                and b_sentinel.id in stream_b.ids()
                and {a_sentinel.id, b_sentinel.id} <= set(stream_ops.ids())
            )

        await eventually(sentinels_received, what="the sentinels on every stream")
        assert stream_a.ids() == [a_submitted.id, a_approved.id, a_sentinel.id]
        assert stream_b.ids() == [b_submitted.id, b_sentinel.id]
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

    await eventually(released, timeout_s=10, what="listeners to be released on disconnect")


async def test_stream_rejects_unknown_event_types(notify: Notify) -> None:
    response = await notify.get("/api/v1/stream", ops(), event_types="project.eaten")
    assert response.status_code == 422
    assert "event_types" in response.json()["detail"]
