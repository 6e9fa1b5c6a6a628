"""The stored history of the live stream (`models.StreamEvent`) and how far it has read each
topic partition (`models.StreamPosition`).

Writers (every replica's stream reader, see `adapters.stream_feed`) take a lock first
(`lock`), so rows commit one writer at a time and `seq` order is commit order: a reader that
has seen every row up to `seq` n can never later find a committed row below n. Readers (the
stream tail and a resuming client) page through `after(seq)`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import case, delete, func, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from notify_svc.domain import Audience
from notify_svc.models import StreamEvent, StreamPosition
from shared.db import insert_with_conflict, table_of
from shared.outbox import UnitOfWork as OutboxUnitOfWork

# Any constant shared by every replica: the advisory lock of stream-history writers.
_WRITER_LOCK = 0x6E6F74696679  # "notify"


@functools.cache
def _advance_statement(dialect: str) -> Any:
    """The upsert of read positions, built once per dialect: building it (the CASE, the
    conflict clause) for every partition of every batch cost more than running it."""
    # On the Table, not the model: an ORM-enabled upsert of many rows takes the ORM's bulk
    # path; Core runs one executemany.
    table = table_of(StreamPosition)
    statement = insert_with_conflict(dialect)(table)
    current, incoming = table.c, statement.excluded
    return statement.on_conflict_do_update(
        index_elements=["topic", "partition"],
        set_={
            "next_offset": case(
                # A topic created anew: its offsets start again, the position with them.
                (incoming.topic_id.is_distinct_from(current.topic_id), incoming.next_offset),
                # Replicas read the same partitions: in one topic the position only moves
                # forward.
                (incoming.next_offset > current.next_offset, incoming.next_offset),
                else_=current.next_offset,
            ),
            "topic_id": incoming.topic_id,
        },
    )


@dataclass(frozen=True, slots=True)
class NewStreamEvent:
    event_id: str
    event_type: str
    project_code: str | None
    audience: Audience | None
    body: bytes
    stored_at: datetime


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One event of the history, as a stream sends it."""

    seq: int
    event_id: str
    event_type: str
    audience: Audience | None
    body: bytes


class StreamHistoryRepository(Protocol):
    async def lock(self) -> None:
        """Become the only writer of the history until this transaction ends."""
        ...

    def add(self, event: NewStreamEvent) -> None:
        """Append an event (one already there under its id is kept as it is)."""
        ...

    async def advance(
        self, positions: Mapping[tuple[str, int], int], *, topic_ids: Mapping[str, str]
    ) -> None:
        """Record that the history holds everything of each (topic, partition) before its
        next offset, in the topic of that id."""
        ...

    async def purge(self, *, before: datetime) -> int: ...

    async def stats(self) -> tuple[int, datetime | None]:
        """How many events are kept, and when the oldest was stored."""
        ...


class SqlStreamHistoryRepository:
    def __init__(self, outbox: OutboxUnitOfWork) -> None:
        self._outbox = outbox

    async def lock(self) -> None:
        session = self._outbox.session
        if session.get_bind().dialect.name == "postgresql":
            lock = text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=_WRITER_LOCK)
            await session.execute(lock)
        # SQLite: the writer's transactions begin IMMEDIATE, one writer at a time already.

    def add(self, event: NewStreamEvent) -> None:
        audience = event.audience
        self._outbox.add_row(
            StreamEvent,
            {
                "event_id": event.event_id,
                "event_type": event.event_type,
                "project_code": event.project_code,
                "credit_code": audience.credit_code if audience else None,
                "departments": sorted(audience.departments) if audience else [],
                "resolved": audience is not None,
                "body": event.body,
                "stored_at": event.stored_at,
            },
            ignore_duplicates=True,
        )

    async def advance(
        self, positions: Mapping[tuple[str, int], int], *, topic_ids: Mapping[str, str]
    ) -> None:
        if not positions:
            return
        session = self._outbox.session
        rows = [
            {
                "topic": topic,
                "partition": partition,
                "next_offset": next_offset,
                "topic_id": topic_ids.get(topic),
            }
            for (topic, partition), next_offset in positions.items()
        ]
        await session.execute(_advance_statement(session.get_bind().dialect.name), rows)

    async def purge(self, *, before: datetime) -> int:
        result = await self._outbox.session.exec(
            delete(StreamEvent).where(col(StreamEvent.stored_at) < before)
        )
        return int(result.rowcount or 0)

    async def stats(self) -> tuple[int, datetime | None]:
        count, oldest = (
            await self._outbox.session.exec(
                select(func.count(), func.min(col(StreamEvent.stored_at)))
            )
        ).one()
        return int(count or 0), oldest


# --- reads ---------------------------------------------------------------------------------


def _stored(row: StreamEvent) -> StoredEvent:
    audience = (
        Audience(credit_code=row.credit_code, departments=frozenset(row.departments))
        if row.resolved
        else None
    )
    assert row.seq is not None  # a stored row has its number
    return StoredEvent(row.seq, row.event_id, row.event_type, audience, row.body)


async def events_after(session: AsyncSession, seq: int, *, limit: int) -> list[StoredEvent]:
    rows = (
        await session.exec(
            select(StreamEvent)
            .where(col(StreamEvent.seq) > seq)
            .order_by(col(StreamEvent.seq))
            .limit(limit)
        )
    ).all()
    return [_stored(r) for r in rows]


async def seq_of(session: AsyncSession, event_id: str) -> int | None:
    found: int | None = (
        await session.exec(select(StreamEvent.seq).where(col(StreamEvent.event_id) == event_id))
    ).first()
    return found


async def last_seq(session: AsyncSession) -> int:
    found = (await session.exec(select(func.max(col(StreamEvent.seq))))).one()
    return int(found or 0)


@dataclass(frozen=True, slots=True)
class Position:
    next_offset: int
    topic_id: str | None  # None: stored before topic ids were recorded


async def positions(
    session: AsyncSession, topics: Sequence[str]
) -> dict[tuple[str, int], Position]:
    rows = (
        await session.exec(select(StreamPosition).where(col(StreamPosition.topic).in_(topics)))
    ).all()
    return {(r.topic, r.partition): Position(r.next_offset, r.topic_id) for r in rows}
