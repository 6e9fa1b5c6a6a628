"""Use cases of the stream history and of retention.

`record_stream_batch` appends what this replica's stream reader read (from every partition)
to the shared history, one writer at a time, and records how far it read; `sweep_retention`
purges what is past its retention and reports what is kept.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from notify_svc.domain import facts_of, projection_update
from notify_svc.domain.retention import cutoff
from notify_svc.handlers.events import audience_of_event
from notify_svc.stream_history import NewStreamEvent
from notify_svc.unit_of_work import NotifyUnitOfWork
from shared.events import CloudEvent


@dataclass(frozen=True, slots=True)
class ReadMessage:
    """One message the stream reader took from a partition (`event` None: not a CloudEvent)."""

    topic: str
    partition: int
    offset: int
    event: CloudEvent | None


async def record_stream_batch(
    uow: NotifyUnitOfWork,
    *,
    messages: Sequence[ReadMessage],
    streamed_types: Collection[str],
    stored_at: datetime,
    topic_ids: Mapping[str, str],
) -> int:
    """Append the batch's streamed events (with who may see each) and advance the read
    positions (in the topics of `topic_ids`), in one transaction. Returns how many events
    were offered to the history (one another replica stored first is kept as it was)."""
    await uow.stream.lock()
    ends: dict[tuple[str, int], int] = {}
    offered = 0
    for message in messages:
        key = (message.topic, message.partition)
        ends[key] = max(ends.get(key, 0), message.offset + 1)
        event = message.event
        if event is None or event.type not in streamed_types:
            continue
        facts = facts_of(event.type, event.subject, event.data)
        if (update := projection_update(event.type, facts)) is not None:
            # The projection also learns here: this reader may be ahead of the consumer.
            uow.audience.add(update)
        audience = await audience_of_event(uow, facts)
        uow.stream.add(
            NewStreamEvent(
                event_id=event.id,
                event_type=event.type,
                project_code=facts.project_code,
                audience=audience,
                body=event.to_json(),
                stored_at=stored_at,
            )
        )
        offered += 1
    await uow.stream.advance(ends, topic_ids=topic_ids)
    await uow.commit()
    return offered


@dataclass(frozen=True, slots=True)
class Kept:
    """What retention keeps after a sweep: how many rows, and when the oldest was stored."""

    stream_events: int
    oldest_stream_event: datetime | None
    delivery_bodies: int
    oldest_delivery_body: datetime | None


async def sweep_retention(
    uow: NotifyUnitOfWork,
    *,
    real_now: datetime,
    platform_now: datetime,
    stream_retention: timedelta,
    body_retention: timedelta,
) -> Kept:
    """Purge stream history (stored in real time) and delivery bodies (platform time) past
    their retention; a body a pending delivery still needs is kept."""
    await uow.stream.purge(before=cutoff(real_now, stream_retention))
    await uow.retention.purge_bodies(before=cutoff(platform_now, body_retention))
    stream_count, stream_oldest = await uow.stream.stats()
    body_count, body_oldest = await uow.retention.bodies()
    await uow.commit()
    return Kept(stream_count, stream_oldest, body_count, body_oldest)
