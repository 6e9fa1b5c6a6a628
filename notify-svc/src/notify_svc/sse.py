"""`GET /api/v1/stream`: Server-Sent Events of the events the caller may see (an HTTP route;
not to be confused with a Kafka stream: the events come from the hub in `notify_svc.broadcast`,
which the consumer feeds after each committed batch).

Live only: events committed while the client is connected (no replay; `Last-Event-ID` is not
honoured). A client that falls more than the queue size behind gets a `stream.lagged` event and
the stream ends; it should reconnect and catch up from `GET /api/v1/deliveries`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query
from sse_starlette import EventSourceResponse, ServerSentEvent

from notify_svc.context import Context, CurrentViewer
from notify_svc.domain import WILDCARD, event_types_problem
from shared.problems import field_error

router = APIRouter(prefix="/api/v1", tags=["notify"])


@router.get(
    "/stream",
    summary="Server-Sent Events of the events the caller may see",
    response_class=EventSourceResponse,
)
async def stream(
    viewer: CurrentViewer,
    ctx: Context,
    event_types: Annotated[list[str] | None, Query(max_length=50)] = None,
) -> EventSourceResponse:
    types = [t for t in (event_types or []) if t != WILDCARD]
    if types and (problem := event_types_problem(types)):
        raise field_error(["query", "event_types"], problem)
    broadcaster = ctx.broadcaster

    async def events() -> AsyncIterator[ServerSentEvent]:
        listener = broadcaster.subscribe(viewer, types)
        try:
            yield ServerSentEvent(comment="connected")
            while True:
                event = await listener.queue.get()
                if event is None:
                    if listener.lagged:
                        yield ServerSentEvent(
                            event="stream.lagged",
                            data=json.dumps({"detail": "the client fell behind; reconnect"}),
                        )
                    return
                yield ServerSentEvent(data=event.to_json().decode(), event=event.type, id=event.id)
        finally:
            # The client went away (sse-starlette cancels us), the stream ended or we stop.
            broadcaster.unsubscribe(listener)

    return EventSourceResponse(
        events(),
        ping=ctx.stream_ping_s,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
