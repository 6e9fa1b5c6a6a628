"""Statistics kept up to date in the same transaction as the change they count.

Each change adds a delta to a counter row (`INSERT ... ON CONFLICT DO UPDATE`), so reading
the overview costs a few dozen rows whatever the number of projects.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Protocol

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import table_of
from supervision_svc.models import StatCounter, StatSubmission

PLATFORM = "*"  # the scope of platform-wide counters (others: a department code)


class StatsRepository(Protocol):
    async def bump(self, scope: str, metric: str, key: str, delta: float = 1) -> None: ...

    async def count_submission(self, *, dimension: str, day: date, key: str) -> None: ...


def _insert(session: AsyncSession, model: Any) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return (postgresql if dialect == "postgresql" else sqlite).insert(model)


class SqlStatsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def bump(self, scope: str, metric: str, key: str, delta: float = 1) -> None:
        if not delta:
            return
        table = table_of(StatCounter)
        stmt = _insert(self._session, table).values(
            scope=scope, metric=metric, key=key, value=delta
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["scope", "metric", "key"],
            set_={"value": table.c.value + stmt.excluded.value},
        )
        await self._session.execute(stmt)

    async def count_submission(self, *, dimension: str, day: date, key: str) -> None:
        table = table_of(StatSubmission)
        stmt = _insert(self._session, table).values(dimension=dimension, day=day, key=key, count=1)
        stmt = stmt.on_conflict_do_update(
            index_elements=["dimension", "day", "key"],
            set_={"count": table.c.count + 1},
        )
        await self._session.execute(stmt)
