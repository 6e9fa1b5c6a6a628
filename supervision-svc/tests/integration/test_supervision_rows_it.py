"""The projection's rows written with Core (`supervision_svc.rows`) on the real database: what a
transaction changed is written, one statement per kind of change, and reads back the same."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import make_engine, make_session_factory
from shared.outbox import UnitOfWork as OutboxUnitOfWork
from supervision_svc.domain.thresholds import DEFAULT_THRESHOLDS
from supervision_svc.handlers.sweeps import sweep_construction
from supervision_svc.projection_cache import preload
from supervision_svc.rows import (
    PROJECT_ROWS,
    TASK_ROWS,
    LostRowError,
    ProjectRow,
    RowStore,
    TaskRow,
)
from supervision_svc.unit_of_work import SqlUnitOfWork

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    yield engine
    await engine.dispose()


def _statements(engine: AsyncEngine) -> list[tuple[str, bool]]:
    """Every statement sent from now on, as (first word, whether an executemany)."""
    sent: list[tuple[str, bool]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool) -> None:
        sent.append((statement.split(None, 1)[0].upper(), many))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    return sent


def _project(code: str) -> ProjectRow:
    return ProjectRow(
        project_code=code,
        credit_code="91440300708461136T",
        status="submitted",
        procedure="approval",
        region_code="110105",
        submitted_at=T0,
        updated_at=T0,
        version_at=T0,
        name="A road",
        planned_start=date(2026, 6, 1),
        reported_progress=Decimal("12.50"),
    )


def _task(code: str, n: int) -> TaskRow:
    return TaskRow(
        task_id=f"{code}-T{n}",
        project_code=code,
        department="NDRC",
        matter_code="M-1",
        matter_name="Approval",
        status="pending",
        assigned_at=T0,
        due_at=T0 + timedelta(days=20),
        yellow_at=T0 + timedelta(days=18),
        version_at=T0,
    )


async def test_new_rows_are_inserted_together_and_read_back_the_same(engine: AsyncEngine) -> None:
    sessions = make_session_factory(engine)
    prefix = uuid.uuid4().hex[:12]
    codes = [f"2603-{prefix}-{n}" for n in range(3)]
    projects = RowStore(PROJECT_ROWS)
    tasks = RowStore(TASK_ROWS)
    sent = _statements(engine)
    async with sessions() as session:
        for code in codes:
            projects.add(_project(code))
            for n in range(3):
                tasks.add(_task(code, n))
        await projects.write(session)
        await tasks.write(session)
        await session.commit()
    assert [s for s in sent if s[0] in ("INSERT", "UPDATE")] == [("INSERT", True)] * 2

    async with sessions() as session:
        read = await PROJECT_ROWS.read(session, "project_code", codes)
        read_tasks = await TASK_ROWS.read(session, "project_code", codes)
    assert sorted(PROJECT_ROWS.values(p) for p in read) == sorted(
        PROJECT_ROWS.values(_project(c)) for c in codes
    )
    assert len(read_tasks) == 9
    assert {TASK_ROWS.values(t) for t in read_tasks} == {
        TASK_ROWS.values(_task(c, n)) for c in codes for n in range(3)
    }


async def test_only_what_changed_is_written_one_statement_per_set_of_columns(
    engine: AsyncEngine,
) -> None:
    sessions = make_session_factory(engine)
    prefix = uuid.uuid4().hex[:12]  # one prefix: the codes sort in the order of `n`
    codes = [f"2603-{prefix}-{n}" for n in range(4)]
    async with sessions() as session:
        fresh = RowStore(PROJECT_ROWS)
        for code in codes:
            fresh.add(_project(code))
        await fresh.write(session)
        await session.commit()

    later = T0 + timedelta(hours=2)
    store = RowStore(PROJECT_ROWS)
    sent = _statements(engine)
    async with sessions() as session:
        rows = {
            r.project_code: store.loaded(r)
            for r in await PROJECT_ROWS.read(session, "project_code", codes)
        }
        for code in codes[:2]:  # approved: two rows, the same three columns
            row = rows[code]
            row.status, row.updated_at, row.version_at = "approved", later, later
            store.add(row)
        rows[codes[2]].next_check_at = later  # one column of another row
        store.add(rows[codes[2]])
        store.add(rows[codes[3]])  # added, but nothing changed: not written
        await store.write(session)
        await store.write(session)  # nothing pending any more: nothing sent
        await session.commit()
    # Written in key order: the two approved rows (neighbours) in one executemany, the third
    # row's column in one statement.
    writes = [s for s in sent if s[0] in ("INSERT", "UPDATE")]
    assert writes == [("UPDATE", True), ("UPDATE", False)]

    async with sessions() as session:
        result = await session.execute(
            select(
                PROJECT_ROWS.table.c.project_code,
                PROJECT_ROWS.table.c.status,
                PROJECT_ROWS.table.c.updated_at,
                PROJECT_ROWS.table.c.next_check_at,
            ).where(PROJECT_ROWS.key_column.in_(codes))
        )
        stored = {code: rest for code, *rest in result.all()}
    assert stored == {
        codes[0]: ["approved", later, None],
        codes[1]: ["approved", later, None],
        codes[2]: ["submitted", T0, later],
        codes[3]: ["submitted", T0, None],
    }


async def test_an_update_of_a_row_the_database_lacks_is_an_error_not_a_silent_loss(
    engine: AsyncEngine,
) -> None:
    code = f"2603-{uuid.uuid4().hex[:12]}-x"  # believed read, never stored
    await _approve_as_if_read(engine, [code], lost="1 rows to update, 0 found")


async def test_an_executemany_update_missing_one_of_its_rows_is_an_error_too(
    engine: AsyncEngine,
) -> None:
    """Several rows in one executemany (on PostgreSQL asyncpg reports no count for it, so the
    rows are counted by key): one of them missing still fails the write."""
    sessions = make_session_factory(engine)
    prefix = uuid.uuid4().hex[:12]
    stored, missing = f"2603-{prefix}-0", f"2603-{prefix}-1"
    async with sessions() as session:
        fresh = RowStore(PROJECT_ROWS)
        fresh.add(_project(stored))
        await fresh.write(session)
        await session.commit()
    # Both believed read; only the first is in the database.
    await _approve_as_if_read(engine, [stored, missing], lost="2 rows to update, 1 found")


async def _approve_as_if_read(engine: AsyncEngine, codes: list[str], *, lost: str) -> None:
    """Approve projects the store believes it read; the write must fail with `lost`."""
    store = RowStore(PROJECT_ROWS)
    for code in codes:
        row = store.loaded(_project(code))
        row.status = "approved"
        store.add(row)
    async with make_session_factory(engine)() as session:
        with pytest.raises(LostRowError, match=lost):
            await store.write(session)
        await session.rollback()


async def test_in_a_batch_a_query_about_a_project_it_did_not_read_sees_the_tasks_it_added(
    engine: AsyncEngine,
) -> None:
    """What the ORM's autoflush did: a task added to a project the batch did not read up
    front is in the database before the departments of that project are asked for."""
    read, other = (f"2603-{uuid.uuid4().hex[:12]}-{n}" for n in "ab")
    batch = OutboxUnitOfWork(make_session_factory(engine))
    async with batch:
        batch.share()
        await preload(batch, project_codes=[read], task_ids=[])
        uow = SqlUnitOfWork.joining(batch)
        await uow.tasks.add(_task(other, 1))
        assert await uow.tasks.departments_of(other) == {"NDRC"}
        await batch.rollback()


async def test_a_sweep_writes_the_rows_of_a_chunk_together_and_a_query_still_sees_them(
    engine: AsyncEngine,
) -> None:
    """A unit of work that owns its transaction (a sweep's chunk, an API request) writes the
    projects it changed once, at commit, not one statement per project."""
    sessions = make_session_factory(engine)
    prefix = uuid.uuid4().hex[:12]
    codes = [f"2603-{prefix}-{n}" for n in range(6)]
    async with sessions() as session:
        fresh = RowStore(PROJECT_ROWS)
        for code in codes:
            row = _project(code)
            row.status, row.cleared_at, row.next_check_at = "approved", T0, T0
            fresh.add(row)
        await fresh.write(session)
        await session.commit()

    def uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(OutboxUnitOfWork(sessions))

    now = T0 + timedelta(days=1)
    sent = _statements(engine)
    assert await sweep_construction(uow_factory=uow, now=now, rules=DEFAULT_THRESHOLDS) == 6
    updates = [s for s in sent if s[0] == "UPDATE"]
    assert updates == [("UPDATE", True)]  # all six projects' next check, one executemany

    async with sessions() as session:
        result = await session.execute(
            select(PROJECT_ROWS.table.c.next_check_at).where(PROJECT_ROWS.key_column.in_(codes))
        )
        (check,) = {at for (at,) in result.all()}  # one instant for all six
    assert check > now

    # What a query of the same transaction reads includes what was added and not written yet.
    async with uow() as work:
        project = await work.projects.get(codes[0])
        assert project is not None
        project.next_check_at = T0
        await work.projects.add(project)
        due = [
            p
            for p in await work.projects.due_for_check(now=now, after="", limit=100)
            if p.project_code in codes
        ]
        assert due == [project]  # the object held (rows compare by identity), not a copy
        await work.commit()


async def test_in_a_transaction_of_its_own_every_query_sees_the_rows_added_before_it(
    engine: AsyncEngine,
) -> None:
    sessions = make_session_factory(engine)
    code = f"2603-{uuid.uuid4().hex[:12]}-q"
    task = _task(code, 1)  # pending, past its yellow threshold a day after T0
    now = T0 + timedelta(days=19)
    async with SqlUnitOfWork(OutboxUnitOfWork(sessions)) as uow:
        project = _project(code)
        project.next_check_at = T0
        await uow.projects.add(project)
        await uow.tasks.add(task)
        assert await uow.projects.credit_codes({code}) == {code: project.credit_code}
        assert await uow.projects.next_check_at() == T0
        assert await uow.tasks.to_check_for_overdue(
            now=now, kind="approval_overdue", after="", limit=10
        ) == [task]
        assert await uow.tasks.next_due(after=T0) == task.yellow_at
        assert await uow.tasks.departments_of(code) == {"NDRC"}
        await uow.commit()
