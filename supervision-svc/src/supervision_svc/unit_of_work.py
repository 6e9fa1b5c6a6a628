"""The unit of work of the supervision handlers: repositories, events, one transaction.

`SupervisionUnitOfWork` is what a handler is given. `SqlUnitOfWork` runs it on the service's
database and transactional outbox (`shared.outbox.UnitOfWork`): rows and the events they cause
commit together. A consumer's batch already has a transaction (the event processor commits it
with the ids of the events it applied), so the consumer *joins* it instead of opening one.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self

from shared.events import CloudEvent
from shared.outbox import UnitOfWork as OutboxUnitOfWork
from supervision_svc.credit_repository import (
    CreditRepository,
    ReportRepository,
    SqlCreditRepository,
    SqlReportRepository,
)
from supervision_svc.repository import (
    AlertRepository,
    ProjectRepository,
    SqlAlertRepository,
    SqlProjectRepository,
    SqlTaskRepository,
    TaskRepository,
)
from supervision_svc.stats_repository import SqlStatsRepository, StatsRepository


class SupervisionUnitOfWork(Protocol):
    projects: ProjectRepository
    tasks: TaskRepository
    alerts: AlertRepository
    reports: ReportRepository
    credit: CreditRepository
    stats: StatsRepository

    def emit(self, event: CloudEvent, topic: str, *, key: str | None = None) -> None:
        """Publish `event` on `topic` if (and only if) this unit of work commits."""
        ...

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once this unit of work's transaction has committed."""
        ...

    async def commit(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Leave: what was not committed is rolled back."""
        ...


class SqlUnitOfWork:
    """The SQL repositories and the outbox over one database transaction."""

    projects: ProjectRepository
    tasks: TaskRepository
    alerts: AlertRepository
    reports: ReportRepository
    credit: CreditRepository
    stats: StatsRepository

    def __init__(self, outbox: OutboxUnitOfWork) -> None:
        self._outbox = outbox

    @classmethod
    def joining(cls, outbox: OutboxUnitOfWork) -> SqlUnitOfWork:
        """A unit of work inside a transaction someone else opened and commits."""
        uow = cls(outbox)
        uow._bind()
        return uow

    def _bind(self) -> None:
        session = self._outbox.session
        self.projects = SqlProjectRepository(session)
        self.tasks = SqlTaskRepository(session)
        self.alerts = SqlAlertRepository(session)
        self.reports = SqlReportRepository(session)
        self.credit = SqlCreditRepository(session)
        self.stats = SqlStatsRepository(session)

    def emit(self, event: CloudEvent, topic: str, *, key: str | None = None) -> None:
        self._outbox.emit(event, topic, key=key)

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._outbox.after_commit(callback)

    async def commit(self) -> None:
        await self._outbox.commit()

    async def __aenter__(self) -> Self:
        await self._outbox.__aenter__()
        self._bind()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._outbox.__aexit__(exc_type, exc, tb)
