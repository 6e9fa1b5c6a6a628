"""The stream reader trusts a stored read position only in the topic it was read from: after a
new broker (the same topic names, new ids, offsets from 0 again) it reads from the beginning,
where a stored offset would have skipped that many events of the new topic."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from notify_helpers import credit_code, event, project, project_code
from sqlmodel import col, select

from notify_svc.adapters.stream_feed import StreamFeed
from notify_svc.caches import Caches
from notify_svc.consumers import INGESTED_TYPES
from notify_svc.models import StreamEvent
from notify_svc.stream_history import SqlStreamHistoryRepository, positions
from notify_svc.unit_of_work import SqlUnitOfWork
from shared.broker import ensure_topics
from shared.epoch import TopicIds
from shared.events import EventType
from shared.outbox import UnitOfWork
from testkit import aproduce_events, eventually

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("stored_in", ["this topic", "an earlier topic of the same name"])
async def test_a_stored_position_counts_only_in_the_topic_it_was_read_from(
    stored_in: str, sessions, kafka_bootstrap: str, region_code: str
) -> None:
    topic = f"notify.feed.{uuid.uuid4().hex[:10]}"
    ensure_topics(kafka_bootstrap, [topic], 1)
    credit = credit_code()
    codes = [project_code(region_code, n) for n in range(1, 6)]
    events = [event(EventType.PROJECT_APPROVED, c, project(c, credit)) for c in codes]
    await aproduce_events(kafka_bootstrap, topic, events)
    ids = TopicIds(kafka_bootstrap)
    try:
        current_id = (await ids.get([topic]))[topic]
    finally:
        await ids.close()
    assert current_id
    # The history had read 3 events of the partition: of this topic, or of one with its name
    # on an earlier broker.
    async with UnitOfWork(sessions) as uow:
        stored_id = current_id if stored_in == "this topic" else "an-id-of-an-earlier-broker"
        await SqlStreamHistoryRepository(uow).advance({(topic, 0): 3}, topic_ids={topic: stored_id})
        await uow.commit()

    feed = StreamFeed(
        bootstrap=kafka_bootstrap,
        topics=[topic],
        streamed_types=INGESTED_TYPES,
        uow_factory=lambda: SqlUnitOfWork(UnitOfWork(sessions), Caches()),
        sessions=sessions,
        on_stored=lambda: None,
        topic_ids=TopicIds(kafka_bootstrap),
    )

    async def read_to_the_end() -> bool:
        async with sessions() as session:
            stored = await positions(session, [topic])
        return (
            stored[(topic, 0)].next_offset == len(events)
            and stored[(topic, 0)].topic_id == current_id
        )

    task = asyncio.create_task(feed.run())
    try:
        await eventually(read_to_the_end, timeout_s=30, what="the reader at the partition's end")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    async with sessions() as session:
        history = set(
            (
                await session.exec(
                    select(StreamEvent.event_id).where(
                        col(StreamEvent.event_id).in_([e.id for e in events])
                    )
                )
            ).all()
        )
    if stored_in == "this topic":
        assert history == {e.id for e in events[3:]}
    else:
        assert history == {e.id for e in events}
