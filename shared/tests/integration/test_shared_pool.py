"""The connection pool serves waiters in order: a task that returns its connection and asks for
it again in the same step does not keep it from a task already waiting (see shared.pool)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.util.concurrency import greenlet_spawn

from shared.db import async_url, make_engine, make_read_engine
from shared.pool import FairAsyncQueuePool

pytestmark = pytest.mark.integration


async def _who_gets_it_first(engine: AsyncEngine) -> list[str]:
    """A holder returns the one connection while a waiter waits, and asks again at once."""
    pool = engine.sync_engine.pool
    order: list[str] = []
    asking = asyncio.Event()

    def take(name: str) -> None:
        conn = pool.connect()
        order.append(name)
        conn.close()

    held = await greenlet_spawn(pool.connect)

    def waiter() -> None:
        asking.set()
        take("waiter")

    waiting = asyncio.create_task(greenlet_spawn(waiter))
    await asking.wait()  # the waiter's step ran: it is queued in the pool

    def return_and_take_again() -> None:
        held.close()  # wakes the waiter...
        take("holder")  # ...and asks again before the waiter has run

    await asyncio.wait_for(greenlet_spawn(return_and_take_again), timeout=10)
    await asyncio.wait_for(waiting, timeout=10)
    return order


async def test_a_waiting_task_gets_the_connection_before_one_that_asks_again(shared_db) -> None:
    engine = create_async_engine(
        async_url(shared_db.url), poolclass=FairAsyncQueuePool, pool_size=1, max_overflow=0
    )
    try:
        assert await _who_gets_it_first(engine) == ["waiter", "holder"]
    finally:
        await engine.dispose()


async def test_the_service_engines_use_the_fair_pool(shared_db) -> None:
    writer = make_engine(shared_db.url)
    reader = make_read_engine(shared_db.url, writer)
    try:
        assert isinstance(writer.pool, FairAsyncQueuePool)
        assert isinstance(reader.pool, FairAsyncQueuePool)
    finally:
        await reader.dispose()
        await writer.dispose()
