"""A connection pool that hands a returned connection to the task that waited longest.

SQLAlchemy's asyncio pool takes a free connection without awaiting whenever one is in the
queue, even while other tasks wait for it. A task that returns the connection and asks for it
again in the same step (approval's submission worker, going from one group to the next) so
takes it back before the waiter it has just woken can run: on SQLite's single writer
connection the outbox relay waited 14.7 s behind 100 back-to-back submission groups, and
nothing was published until the submissions stopped (measured in the approval benchmark at
saturation, 2026-12-04).

``FairAsyncQueuePool`` keeps the pool as it is and changes one thing: a task asking for a
connection while others wait first lets the event loop run once, so the waiter woken by the
last return takes that connection, and the newcomer queues behind it (asyncio's queue serves
its waiters in order).
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util.concurrency import await_
from sqlalchemy.util.queue import AsyncAdaptedQueue


class _FairQueue(AsyncAdaptedQueue[Any]):
    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        super().__init__(maxsize, use_lifo)
        self._waiting = 0  # tasks inside get() that found the queue empty

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if not block:
            return super().get(block, timeout)
        if self._waiting:
            # A waiter may have been woken by a return this very step: it goes first.
            await_(asyncio.sleep(0))
        if not self.empty():
            return super().get(block, timeout)
        self._waiting += 1
        try:
            return super().get(block, timeout)
        finally:
            self._waiting -= 1


class FairAsyncQueuePool(AsyncAdaptedQueuePool):
    """``AsyncAdaptedQueuePool`` whose waiters are served first come, first served."""

    _queue_class = _FairQueue
