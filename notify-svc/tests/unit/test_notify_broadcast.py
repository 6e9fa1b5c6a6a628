"""The hub behind the live stream: visibility per listener, laggards cut off, ends on close."""

from __future__ import annotations

import asyncio

from notify_svc.broadcast import Broadcaster
from notify_svc.domain import Audience, Viewer
from shared.events import EventType, new_event


async def test_the_broadcaster_filters_by_visibility_and_cuts_off_laggards() -> None:
    broadcaster = Broadcaster(queue_size=2)
    mine = broadcaster.subscribe(Viewer("enterprise", credit_code="A"))
    ops = broadcaster.subscribe(Viewer("ops"), [EventType.PROJECT_APPROVED])
    assert broadcaster.restricted
    a_event = new_event(type=EventType.PROJECT_SUBMITTED, source="t", subject="P1", data={})
    broadcaster.publish(a_event, Audience(credit_code="A"))
    broadcaster.publish(a_event, Audience(credit_code="B"))
    assert mine.queue.get_nowait() is a_event
    assert mine.queue.empty()
    assert ops.queue.empty()  # it asked for another type
    for _ in range(3):
        broadcaster.publish(a_event, Audience(credit_code="A"))
    assert mine.lagged
    assert broadcaster.listener_count == 1
    assert not broadcaster.restricted  # only the ops listener is left
    broadcaster.close()
    assert await asyncio.wait_for(ops.queue.get(), 1) is None
    assert broadcaster.listener_count == 0
    late = broadcaster.subscribe(Viewer("ops"))  # after close: ended at once
    assert late.queue.get_nowait() is None
