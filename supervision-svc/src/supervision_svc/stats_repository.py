"""Statistics kept up to date in the same transaction as the change they count.

Each change adds a delta to a counter row (`INSERT ... ON CONFLICT DO UPDATE`, summed per
transaction), so reading the overview costs a few dozen rows whatever the number of projects.
"""

from __future__ import annotations

from datetime import date
from typing import Protocol

from shared.outbox import UnitOfWork as OutboxUnitOfWork
from supervision_svc.models import StatCounter, StatSubmission

PLATFORM = "*"  # the scope of platform-wide counters (others: a department code)


class StatsRepository(Protocol):
    async def bump(self, scope: str, metric: str, key: str, delta: float = 1) -> None: ...

    async def count_submission(self, *, dimension: str, day: date, key: str) -> None: ...


class SqlStatsRepository:
    """Counter deltas buffered in the transaction's unit of work and written at its commit:
    one upsert-adding executemany per table for a whole consumer batch, not a statement per
    change. Counters are never read inside the transaction that moves them."""

    def __init__(self, outbox: OutboxUnitOfWork) -> None:
        self._outbox = outbox

    async def bump(self, scope: str, metric: str, key: str, delta: float = 1) -> None:
        if not delta:
            return
        self._outbox.accumulate(
            StatCounter, {"scope": scope, "metric": metric, "key": key}, {"value": delta}
        )

    async def count_submission(self, *, dimension: str, day: date, key: str) -> None:
        self._outbox.accumulate(
            StatSubmission, {"dimension": dimension, "day": day, "key": key}, {"count": 1}
        )
