"""The hub behind the live stream: visibility per listener, laggards cut off, ends on close."""

from __future__ import annotations

import asyncio

from notify_svc.broadcast import Broadcaster
from notify_svc.domain import Audience, Viewer
from notify_svc.stream_history import StoredEvent
from shared.events import EventType


def stored(seq: int, credit_code: str | None, event_type: str = EventType.PROJECT_SUBMITTED):
    return StoredEvent(seq, f"e{seq}", event_type, Audience(credit_code=credit_code), b"{}")


async def test_the_broadcaster_filters_by_visibility_and_cuts_off_laggards() -> None:
    broadcaster = Broadcaster(queue_size=2)
    mine = broadcaster.subscribe(Viewer("enterprise", credit_code="A"))
    ops = broadcaster.subscribe(Viewer("ops"), [EventType.PROJECT_APPROVED])
    first = stored(1, "A")
    broadcaster.publish(first)
    broadcaster.publish(stored(2, "B"))
    assert mine.queue.get_nowait() is first
    assert mine.queue.empty()
    assert ops.queue.empty()  # it asked for another type
    for seq in range(3, 6):
        broadcaster.publish(stored(seq, "A"))
    assert mine.lagged
    assert broadcaster.listener_count == 1
    broadcaster.close()
    assert await asyncio.wait_for(ops.queue.get(), 1) is None
    assert broadcaster.listener_count == 0
    late = broadcaster.subscribe(Viewer("ops"))  # after close: ended at once
    assert late.queue.get_nowait() is None


def test_an_unresolved_audience_is_for_ops_only() -> None:
    broadcaster = Broadcaster()
    ent = broadcaster.subscribe(Viewer("enterprise", credit_code="A"))
    ops = broadcaster.subscribe(Viewer("ops"))
    unresolved = StoredEvent(1, "e1", EventType.ALERT_RAISED, None, b"{}")
    broadcaster.publish(unresolved)
    assert ent.queue.empty()
    assert ops.queue.get_nowait() is unresolved
