"""The stream tail on a real database: restarted after a failure, it skips nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from notify_svc.broadcast import Broadcaster, StreamTail
from notify_svc.domain import Viewer
from notify_svc.models import StreamEvent
from shared.db import SessionFactory
from shared.events import EventType
from testkit import eventually

pytestmark = pytest.mark.integration


async def _store(sessions: SessionFactory, event_id: str) -> None:
    async with sessions() as session:
        session.add(
            StreamEvent(
                event_id=event_id,
                event_type=EventType.PROJECT_SUBMITTED,
                body=b"{}",
                stored_at=datetime.now(UTC),
            )
        )
        await session.commit()


class _Flaky:
    """The tail's sessions, failing while `failing` is set (a database that went away)."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions
        self.failing = False

    def __call__(self) -> Any:
        if self.failing:
            raise ConnectionError("the database is not answering")
        return self._sessions()


async def test_a_tail_restarted_after_a_failure_publishes_what_was_stored_meanwhile(
    sessions: SessionFactory,
) -> None:
    await _store(sessions, "before-start")
    hub = Broadcaster()
    listener = hub.subscribe(Viewer("ops"))
    flaky = _Flaky(sessions)
    tail = StreamTail(hub, flaky)  # type: ignore[arg-type]  # a session factory in all but name
    first = asyncio.create_task(tail.run())
    try:
        await eventually(lambda: tail.position == 1, what="the tail at the end of the history")

        flaky.failing = True
        await _store(sessions, "while-down")
        tail.wake()
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(first, 10)

        flaky.failing = False
        second = asyncio.create_task(tail.run())  # as the runtime restarts a failed job
        try:
            published = await asyncio.wait_for(listener.queue.get(), 10)
        finally:
            second.cancel()
    finally:
        first.cancel()
    assert published is not None
    assert (published.seq, published.event_id) == (2, "while-down")
