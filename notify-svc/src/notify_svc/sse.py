"""`GET /api/v1/stream`: Server-Sent Events of the events the caller may see (an HTTP route;
not to be confused with a Kafka stream: the events come from the stream history, see
`notify_svc.broadcast` and `notify_svc.stream_history`).

Each message has `id:` (the CloudEvent id), `event:` (its type) and `data:` (the CloudEvent).
A client that reconnects with `Last-Event-ID` is first sent, in order, every event after that
one still in the history (kept `NOTIFY_STREAM_RETENTION_HOURS`), then live events: it joins
the live hub before reading the history, and skips live events the replay already sent, so
there is no gap and no repeat. An id the history does not know (expired) replays everything
kept. Heartbeats (SSE comments) keep idle connections open. A client that falls more than the
queue size behind gets a `stream.lagged` event and the stream ends; it reconnects with
Last-Event-ID and catches up.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse, ServerSentEvent

from notify_svc.broadcast import Listener
from notify_svc.context import Context, CurrentViewer
from notify_svc.domain import WILDCARD, event_types_problem
from notify_svc.metrics import STREAM_RESUMES
from notify_svc.stream_history import StoredEvent, events_after, seq_of
from shared.db import SessionFactory
from shared.problems import field_error

router = APIRouter(prefix="/api/v1", tags=["notify"])

REPLAY_PAGE = 500


def _message(event: StoredEvent) -> ServerSentEvent:
    return ServerSentEvent(data=event.body.decode(), event=event.event_type, id=event.event_id)


async def _replay(
    sessions: SessionFactory, listener: Listener, last_event_id: str
) -> AsyncIterator[tuple[int, ServerSentEvent | None]]:
    """(seq, message) for every kept event after `last_event_id` the listener wants; a None
    message only moves the position (an event this caller may not see)."""
    async with sessions() as session:
        position = await seq_of(session, last_event_id)
    if position is None:
        yield 0, ServerSentEvent(comment="last event id not kept; replaying the whole history")
        position = 0
    while True:
        async with sessions() as session:
            rows = await events_after(session, position, limit=REPLAY_PAGE)
        for row in rows:
            position = row.seq
            yield position, (_message(row) if listener.wants(row) else None)
        if len(rows) < REPLAY_PAGE:
            return


@router.get(
    "/stream",
    summary="Server-Sent Events of the events the caller may see (resumable)",
    response_class=EventSourceResponse,
)
async def stream(
    viewer: CurrentViewer,
    ctx: Context,
    event_types: Annotated[list[str] | None, Query(max_length=50)] = None,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", max_length=128, min_length=1)
    ] = None,
) -> EventSourceResponse:
    types = [t for t in (event_types or []) if t != WILDCARD]
    if types and (problem := event_types_problem(types)):
        raise field_error(["query", "event_types"], problem)
    broadcaster = ctx.broadcaster
    sessions = ctx.runtime.read_sessions

    async def events() -> AsyncIterator[ServerSentEvent]:
        # Join the live hub first: what commits during the replay is queued, not missed.
        listener = broadcaster.subscribe(viewer, types)
        try:
            yield ServerSentEvent(comment="connected")
            sent_up_to = 0
            if last_event_id:
                STREAM_RESUMES.inc()
                async for position, message in _replay(sessions, listener, last_event_id):
                    sent_up_to = position
                    if message is not None:
                        yield message
            while True:
                event = await listener.queue.get()
                if event is None:
                    if listener.lagged:
                        yield ServerSentEvent(
                            event="stream.lagged",
                            data=json.dumps({"detail": "the client fell behind; reconnect"}),
                        )
                    return
                if event.seq <= sent_up_to:
                    continue  # the replay already sent it
                yield _message(event)
        finally:
            # The client went away (sse-starlette cancels us), the stream ended or we stop.
            broadcaster.unsubscribe(listener)

    return EventSourceResponse(
        events(),
        ping=ctx.stream_ping_s,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
