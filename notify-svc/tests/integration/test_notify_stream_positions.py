"""The stream reader's read positions on a real database: one upsert for a batch's
partitions, and a position only ever moves forward (replicas read the same partitions)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from notify_svc.models import StreamPosition
from notify_svc.stream_history import SqlStreamHistoryRepository
from shared.outbox import UnitOfWork

pytestmark = pytest.mark.integration


async def _advance(sessions, positions: dict[tuple[str, int], int]) -> None:
    async with UnitOfWork(sessions) as uow:
        await SqlStreamHistoryRepository(uow).advance(positions)
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


async def test_no_positions_writes_nothing(sessions) -> None:
    await _advance(sessions, {})
    assert await _positions(sessions) == {}
