"""The outbox relay's engine: the writer's on SQLite; on PostgreSQL a connection of its own
whose plan for the relay's read is an index scan, never a bitmap scan (`make_relay_engine`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, text, update
from sqlalchemy.dialects import postgresql

from shared.db import OutboxMessage, make_relay_engine, table_of
from shared.events import EventType
from shared.relay import unsent_batch
from shared.topics import APPROVAL_PROJECTS

pytestmark = pytest.mark.integration

_OUTBOX = table_of(OutboxMessage)


async def test_on_sqlite_the_relay_shares_the_one_writer(shared_db) -> None:
    if shared_db.backend != "sqlite":
        pytest.skip("SQLite's rule: one writer connection")
    assert make_relay_engine(shared_db.url, shared_db.engine) is shared_db.engine


async def test_on_postgresql_the_relay_reads_unsent_rows_by_index_scan(shared_db) -> None:
    if shared_db.backend != "postgresql":
        pytest.skip("the planner's choice is PostgreSQL's")
    now = datetime.now(UTC)
    async with shared_db.engine.begin() as conn:
        await conn.execute(
            insert(_OUTBOX),
            [
                {
                    "event_id": f"e-{i}",
                    "event_type": EventType.PROJECT_SUBMITTED,
                    "topic": APPROVAL_PROJECTS,
                    "message_key": f"P-{i % 7}",
                    "payload": b"x" * 1500,
                    "created_at": now,
                }
                for i in range(3000)
            ],
        )
        # Most rows sent, as in a running service: their old index entries linger.
        await conn.execute(update(_OUTBOX).where(_OUTBOX.c.id <= 2900).values(sent_at=now))
        await conn.execute(text("ANALYZE outbox"))
    query = str(
        unsent_batch(500).compile(
            dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
        )
    )

    relay = make_relay_engine(shared_db.url, shared_db.engine)
    try:
        assert relay is not shared_db.engine
        async with relay.connect() as conn:
            relay_plan = "\n".join((await conn.execute(text(f"EXPLAIN {query}"))).scalars())
            setting = (await conn.execute(text("SHOW enable_bitmapscan"))).scalar_one()
    finally:
        await relay.dispose()

    assert setting == "off"
    assert "Index Scan" in relay_plan, relay_plan
    assert "Bitmap" not in relay_plan, relay_plan
    async with shared_db.engine.connect() as conn:  # the service's other connections
        assert (await conn.execute(text("SHOW enable_bitmapscan"))).scalar_one() == "on"
