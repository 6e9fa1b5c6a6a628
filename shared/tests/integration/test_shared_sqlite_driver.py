"""The SQLite driver (shared.sqlite_driver) answers like SQLAlchemy's aiosqlite adapter, with one
trip to the connection's thread per statement instead of four."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import sqlite_driver
from shared.db import make_engine, make_read_engine

pytestmark = pytest.mark.integration

metadata = MetaData()
items = Table(
    "items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(20), unique=True, nullable=False),
    Column("qty", Integer, nullable=False),
)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call aiosqlite runs on a connection's thread, by name."""
    seen: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return seen


async def test_the_service_engines_use_it(engine: AsyncEngine, tmp_path: Path) -> None:
    reader = make_read_engine(f"sqlite:///{tmp_path / 'driver.db'}", engine)
    try:
        for used in (engine, reader):
            assert type(used.dialect.dbapi) is type(sqlite_driver.dbapi())
    finally:
        await reader.dispose()


async def test_a_statement_is_one_trip_to_the_connections_thread(
    engine: AsyncEngine, trips: list[str]
) -> None:
    async with engine.connect() as conn:  # connected and begun before counting
        await conn.execute(text("SELECT 1"))
        trips.clear()
        rows = (await conn.execute(select(items.c.id))).all()
        await conn.execute(insert(items).values(name="a", qty=1))
        assert trips == ["_run", "_run"]
        assert rows == []
        await conn.rollback()


async def test_rows_counts_ids_and_returning_come_back_as_before(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        first = await conn.execute(insert(items).values(name="a", qty=1))
        assert first.inserted_primary_key == (1,)  # from the cursor's lastrowid
        many = await conn.execute(insert(items), [{"name": "b", "qty": 2}, {"name": "c", "qty": 3}])
        assert many.rowcount == 2
        returned = await conn.execute(
            insert(items).values(name="d", qty=4).returning(items.c.id, items.c.name)
        )
        assert returned.all() == [(4, "d")]
        changed = await conn.execute(update(items).where(items.c.qty >= 2).values(qty=0))
        assert changed.rowcount == 3
        result = await conn.execute(select(items.c.name, items.c.qty).order_by(items.c.id))
        assert list(result.keys()) == ["name", "qty"]
        assert result.all() == [("a", 1), ("b", 0), ("c", 0), ("d", 0)]


async def test_an_error_is_sqlalchemys_and_the_transaction_rolls_back(engine: AsyncEngine) -> None:
    async def twice() -> None:
        async with engine.begin() as conn:
            await conn.execute(insert(items).values(name="a", qty=1))
            await conn.execute(insert(items).values(name="a", qty=2))

    with pytest.raises(IntegrityError):
        await twice()
    async with engine.begin() as conn:  # the connection serves the next transaction
        assert (await conn.execute(select(items.c.name))).all() == []
        await conn.execute(insert(items).values(name="a", qty=3))
    async with engine.connect() as conn:
        assert (await conn.execute(select(items.c.qty))).scalar_one() == 3


async def test_streamed_results_still_read_in_parts(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(items), [{"name": f"n{i}", "qty": i} for i in range(50)])
    async with engine.connect() as conn:
        streamed = await conn.stream(select(items.c.qty).order_by(items.c.qty))
        got = [row.qty async for row in streamed]
    assert got == list(range(50))
