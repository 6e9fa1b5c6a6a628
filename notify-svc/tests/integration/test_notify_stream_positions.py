"""The stream reader's read positions on a real database: one upsert for a batch's
partitions; in one topic a position only ever moves forward (replicas read the same
partitions), and in a topic created anew (a new id) it starts again."""

from __future__ import annotations

import pytest
from sqlmodel import select

from notify_svc.models import StreamPosition
from notify_svc.stream_history import Position, SqlStreamHistoryRepository, positions
from shared.outbox import UnitOfWork

pytestmark = pytest.mark.integration

IDS = {"approval.projects": "id-projects-1", "supervision.alerts": "id-alerts-1"}


async def _advance(
    sessions, read: dict[tuple[str, int], int], topic_ids: dict[str, str] = IDS
) -> None:
    async with UnitOfWork(sessions) as uow:
        await SqlStreamHistoryRepository(uow).advance(read, topic_ids=topic_ids)
        await uow.commit()


async def _positions(sessions) -> dict[tuple[str, int], int]:
    async with sessions() as session:
        rows = (await session.exec(select(StreamPosition))).all()
    return {(row.topic, row.partition): row.next_offset for row in rows}


async def test_a_batch_of_positions_is_stored_and_only_moves_forward(sessions) -> None:
    await _advance(sessions, {("approval.projects", 0): 10, ("approval.projects", 1): 4})
    assert await _positions(sessions) == {
        ("approval.projects", 0): 10,
        ("approval.projects", 1): 4,
    }

    # A replica that read less of partition 0 does not move it back; the others move on.
    await _advance(
        sessions,
        {
            ("approval.projects", 0): 7,
            ("approval.projects", 1): 9,
            ("supervision.alerts", 3): 2,
        },
    )
    assert await _positions(sessions) == {
        ("approval.projects", 0): 10,
        ("approval.projects", 1): 9,
        ("supervision.alerts", 3): 2,
    }


async def test_a_topic_created_anew_starts_its_positions_again(sessions) -> None:
    await _advance(sessions, {("approval.projects", 0): 500, ("supervision.alerts", 0): 40})

    # A new broker: approval.projects has a new id and its offsets start again from 0.
    await _advance(
        sessions,
        {("approval.projects", 0): 3, ("supervision.alerts", 0): 12},
        IDS | {"approval.projects": "id-projects-2"},
    )

    async with sessions() as session:
        stored = await positions(session, ["approval.projects", "supervision.alerts"])
    assert stored == {
        ("approval.projects", 0): Position(3, "id-projects-2"),
        ("supervision.alerts", 0): Position(40, "id-alerts-1"),
    }


async def test_no_positions_writes_nothing(sessions) -> None:
    await _advance(sessions, {})
    assert await _positions(sessions) == {}
