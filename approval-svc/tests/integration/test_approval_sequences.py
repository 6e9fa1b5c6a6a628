"""The serial registers on the real database: project serials taken for a whole submission
group (several prefixes in one statement), one at a time, and document serials in a deferred
consumer batch. Their statements are built once and reused, so each test takes serials twice
or more with the same statement."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import select

from approval_svc import models
from approval_svc.registers_repository import SqlSequences
from approval_svc.unit_of_work import SqlUnitOfWork
from shared.db import SessionFactory, make_engine, make_session_factory, table_of
from shared.migrations import upgrade
from shared.outbox import UnitOfWork

from conftest import MIGRATIONS

pytestmark = pytest.mark.integration


@pytest.fixture
async def sessions(database_factory: Callable[[str], str]) -> AsyncIterator[SessionFactory]:
    url = database_factory("approval")
    upgrade(MIGRATIONS, url)
    engine = make_engine(url)
    try:
        yield make_session_factory(engine)
    finally:
        await engine.dispose()


async def test_a_group_takes_the_serials_of_several_prefixes_at_once(
    sessions: SessionFactory,
) -> None:
    async with UnitOfWork(sessions) as outbox:
        first = await SqlSequences(outbox.session, outbox).take_project_serials(
            {"2026-440300-44": 2, "2026-110108-35": 3}
        )
        await outbox.commit()
    assert {p: list(s) for p, s in first.items()} == {
        "2026-110108-35": [1, 2, 3],
        "2026-440300-44": [1, 2],
    }
    async with UnitOfWork(sessions) as outbox:
        sequences = SqlSequences(outbox.session, outbox)
        second = await sequences.take_project_serials({"2026-440300-44": 1, "2026-310115-52": 2})
        alone = await sequences.next_project_serial("2026-110108-35")
        await outbox.commit()
    assert {p: list(s) for p, s in second.items()} == {
        "2026-310115-52": [1, 2],
        "2026-440300-44": [3],
    }
    assert alone == 4
    async with sessions() as session:
        table = table_of(models.CodeSequence)
        rows = (await session.execute(select(table.c.prefix, table.c.last_serial))).all()
    assert dict(rows) == {"2026-110108-35": 4, "2026-310115-52": 2, "2026-440300-44": 3}


async def test_a_batch_counts_document_serials_on_and_stores_the_last(
    sessions: SessionFactory,
) -> None:
    for expected, other in (([1, 2, 3], 1), ([4, 5, 6], 2)):
        async with UnitOfWork(sessions) as outbox:
            uow = SqlUnitOfWork(outbox, deferred=True)
            taken = [await uow.sequences.next_document_serial("NDRC", 2026) for _ in range(3)]
            mee = await uow.sequences.next_document_serial("MEE", 2026)
            await outbox.commit()
        assert (taken, mee) == (expected, other)
    async with sessions() as session:
        table = table_of(models.DocumentSequence)
        rows = (
            await session.execute(select(table.c.department, table.c.year, table.c.last_serial))
        ).all()
    assert sorted(rows) == [("MEE", 2026, 2), ("NDRC", 2026, 6)]
