"""Transactional outbox on a real database: what a unit of work commits, rolls back and stores."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy
from sqlmodel import Field, SQLModel, col, select

from shared.db import ExactDecimal, UTCDateTime
from shared.outbox import UnitOfWork
from shared.relay import OutboxRelay

from shared_outbox_support import RecordingProducer, _events, _rows, _service

pytestmark = pytest.mark.integration


async def test_the_database_is_the_configured_backend(shared_db) -> None:
    configured = os.environ.get("APPROVAL_DATABASE_URL", "")
    expected = "postgresql" if configured.startswith("postgresql") else "sqlite"

    assert shared_db.backend == expected
    assert (
        await OutboxRelay(
            session_factory=shared_db.sessions,
            producer=RecordingProducer(),  # type: ignore[arg-type]
            service=_service(),
        ).backlog()
        == 0
    )


async def test_explicit_key_overrides_the_subject(shared_db) -> None:
    producer = RecordingProducer()
    relay = OutboxRelay(session_factory=shared_db.sessions, producer=producer, service=_service())
    event = _events(1)[0]

    async with UnitOfWork(shared_db.sessions) as uow:
        uow.emit(event, "approval.tasks.MEE", key="other-key")
        uow.emit_raw(topic="x.dlq", key=None, payload=b'{"error":"e"}', event_type="t.dead_letter")
        await uow.commit()
    await relay.publish_pending()

    assert [(m.topic, m.key, m.value) for m in producer.sent] == [
        ("approval.tasks.MEE", b"other-key", event.to_json()),
        ("x.dlq", None, b'{"error":"e"}'),
    ]


async def test_only_a_commit_that_wrote_events_wakes_the_relay(shared_db) -> None:
    commits: list[str] = []
    woken: list[str] = []

    def uow() -> UnitOfWork:
        return UnitOfWork(
            shared_db.sessions,
            on_commit=lambda: commits.append("commit"),
            on_events=lambda: woken.append("events"),
        )

    async with uow() as unit:  # a commit with no event: the relay has nothing new to read
        await unit.commit()
    async with uow() as unit:
        unit.emit(_events(1)[0], "t")
        await unit.commit()
        await unit.commit()  # a second commit in the same block writes nothing more
    async with uow() as unit:  # a dead letter is an outbox row too
        unit.emit_raw(topic="x.dlq", key=None, payload=b"{}", event_type="t.dead_letter")
        await unit.commit()
    async with uow() as unit:  # emitted, then rolled back: nothing was written
        unit.emit(_events(1)[0], "t")
        await unit.rollback()
        await unit.commit()

    assert commits == ["commit"] * 5
    assert woken == ["events", "events"]
    assert [r.topic for r in await _rows(shared_db.sessions)] == ["t", "x.dlq"]


async def test_a_rolled_back_unit_of_work_publishes_nothing(shared_db) -> None:
    producer = RecordingProducer()
    relay = OutboxRelay(session_factory=shared_db.sessions, producer=producer, service=_service())
    woken: list[int] = []

    async def failing_handler() -> None:
        async with UnitOfWork(shared_db.sessions, on_commit=lambda: woken.append(1)) as uow:
            uow.emit(_events(1)[0], "t")
            raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError, match="handler failed"):
        await failing_handler()
    async with UnitOfWork(shared_db.sessions) as uow:
        uow.emit(_events(1)[0], "t")
        await uow.rollback()
    async with UnitOfWork(shared_db.sessions) as uow:  # left without commit
        uow.emit(_events(1)[0], "t")

    assert await relay.backlog() == 0
    assert await relay.publish_pending() == 0
    assert producer.sent == []
    assert woken == []
    assert await _rows(shared_db.sessions) == []


async def test_unit_of_work_outside_its_block_refuses() -> None:
    uow = UnitOfWork(lambda: None)  # type: ignore[arg-type,return-value]

    with pytest.raises(RuntimeError, match="outside"):
        uow.emit(_events(1)[0], "t")


async def test_exact_types_round_trip_through_the_real_database(shared_db) -> None:
    class Measure(SQLModel, table=True):
        __tablename__ = f"measure_{uuid.uuid4().hex[:6]}"
        id: int | None = Field(default=None, primary_key=True)
        amount: Decimal = Field(sa_column=sqlalchemy.Column(ExactDecimal(), nullable=False))
        at: datetime = Field(sa_column=sqlalchemy.Column(UTCDateTime(), nullable=False))

    try:
        async with shared_db.engine.begin() as conn:
            await conn.run_sync(Measure.__table__.create)
        local = datetime(2025, 6, 30, 23, 30, 0, 123_456, tzinfo=timezone(timedelta(hours=8)))
        amounts = [Decimal("12345678901234.56"), Decimal("0.000001"), Decimal("1.10")]
        async with shared_db.sessions() as session:
            session.add_all([Measure(amount=a, at=local) for a in amounts])
            await session.commit()
        async with shared_db.sessions() as session:
            rows = (await session.exec(select(Measure).order_by(col(Measure.id)))).all()
            later = (
                await session.exec(
                    select(Measure).where(col(Measure.at) > datetime(2025, 6, 30, 15, tzinfo=UTC))
                )
            ).all()
    finally:
        SQLModel.metadata.remove(Measure.__table__)

    assert [r.amount for r in rows] == amounts
    assert all(isinstance(r.amount, Decimal) for r in rows)
    assert all(r.at == local and r.at.tzinfo is not None for r in rows)
    assert rows[0].at.utcoffset() == timedelta(0)
    assert len(later) == 3  # compared as instants (15:30 UTC > 15:00 UTC)


async def test_added_rows_may_ignore_duplicates_and_callbacks_run_only_after_commit(
    shared_db,
) -> None:
    class Fact(SQLModel, table=True):
        __tablename__ = f"fact_{uuid.uuid4().hex[:6]}"
        key: str = Field(primary_key=True, max_length=16)
        value: int

    ran: list[str] = []
    try:
        async with shared_db.engine.begin() as conn:
            await conn.run_sync(Fact.__table__.create)
        async with UnitOfWork(shared_db.sessions) as uow:
            uow.add_row(Fact, {"key": "a", "value": 1}, ignore_duplicates=True)
            uow.after_commit(lambda: ran.append("first"))
            # One event failing in isolation: what it added after the mark goes with it.
            mark = uow.mark()
            uow.add_row(Fact, {"key": "b", "value": 2}, ignore_duplicates=True)
            uow.after_commit(lambda: ran.append("forgotten"))
            uow.forget_since(mark)
            # A replay of the same fact in the same batch and a failing callback change nothing.
            uow.add_row(Fact, {"key": "a", "value": 9}, ignore_duplicates=True)
            uow.after_commit(lambda: 1 / 0 and None)
            uow.after_commit(lambda: ran.append("second"))
            assert ran == []
            await uow.commit()
        assert ran == ["first", "second"]
        async with UnitOfWork(shared_db.sessions) as uow:  # a later replay: still ignored
            uow.add_row(Fact, {"key": "a", "value": 7}, ignore_duplicates=True)
            uow.add_row(Fact, {"key": "c", "value": 3}, ignore_duplicates=True)
            uow.after_commit(lambda: ran.append("rolled back"))
            await uow.rollback()
            uow.add_row(Fact, {"key": "a", "value": 7}, ignore_duplicates=True)
            uow.add_row(Fact, {"key": "c", "value": 3}, ignore_duplicates=True)
            await uow.commit()
        async with shared_db.sessions() as session:
            rows = (await session.exec(select(Fact).order_by(col(Fact.key)))).all()
    finally:
        SQLModel.metadata.remove(Fact.__table__)

    assert [(r.key, r.value) for r in rows] == [("a", 1), ("c", 3)]
    assert ran == ["first", "second"]


async def test_a_keyed_write_before_flush_is_queued_once_and_again_after_it_was_dropped(
    shared_db,
) -> None:
    ran: list[str] = []
    store, other = object(), object()

    def write(name: str):  # type: ignore[no-untyped-def]
        async def run() -> None:
            ran.append(name)

        return run

    async with UnitOfWork(shared_db.sessions) as uow:
        uow.before_flush(write("store"), key=store)
        uow.before_flush(write("store again"), key=store)  # already queued: not again
        uow.before_flush(write("other"), key=other)
        uow.before_flush(write("unkeyed"))
        uow.before_flush(write("unkeyed"))
        await uow.flush()
        assert ran == ["store", "other", "unkeyed", "unkeyed"]

        # Once run (or dropped with a rolled-back savepoint), the key may be queued again.
        uow.before_flush(write("store after the flush"), key=store)
        mark = uow.mark()
        uow.before_flush(write("forgotten"), key=other)
        uow.forget_since(mark)
        uow.before_flush(write("other after the savepoint"), key=other)
        await uow.commit()
    assert ran[4:] == ["store after the flush", "other after the savepoint"]
