"""The unit of work of the supervision handlers: repositories, events, one transaction.

`SupervisionUnitOfWork` is what a handler is given. `SqlUnitOfWork` runs it on the service's
database and transactional outbox (`shared.outbox.UnitOfWork`): rows and the events they cause
commit together. A consumer's batch already has a transaction (the event processor commits it
with the ids of the events it applied), so the consumer *joins* it instead of opening one.
"""

from __future__ import annotations

from typing import Protocol

from shared.outbox import EventUnitOfWork, OutboxBackedUnitOfWork
from shared.outbox import UnitOfWork as OutboxUnitOfWork
from supervision_svc.credit_repository import (
    CreditRepository,
    ReportRepository,
    SqlCreditRepository,
    SqlReportRepository,
)
from supervision_svc.projection_cache import ProjectionCache
from supervision_svc.repository import (
    AlertRepository,
    ProjectRepository,
    SqlAlertRepository,
    SqlProjectRepository,
    SqlTaskRepository,
    TaskRepository,
)
from supervision_svc.stats_repository import SqlStatsRepository, StatsRepository


class SupervisionUnitOfWork(EventUnitOfWork, Protocol):
    projects: ProjectRepository
    tasks: TaskRepository
    alerts: AlertRepository
    reports: ReportRepository
    credit: CreditRepository
    stats: StatsRepository


class SqlUnitOfWork(OutboxBackedUnitOfWork):
    """The SQL repositories and the outbox over one database transaction."""

    projects: ProjectRepository
    tasks: TaskRepository
    alerts: AlertRepository
    reports: ReportRepository
    credit: CreditRepository
    stats: StatsRepository

    _joined = False

    @classmethod
    def joining(cls, outbox: OutboxUnitOfWork) -> SqlUnitOfWork:
        """A unit of work inside a transaction someone else opened and commits."""
        uow = cls(outbox)
        uow._joined = True
        uow._bind()
        return uow

    def _bind(self) -> None:
        session = self._outbox.session
        # A projection batch applied together reads from what it loaded up front.
        cache = ProjectionCache.of(self._outbox)
        # Projects and tasks are written once per transaction, except in a transaction joined
        # without a batch's cache: there each event may run in a savepoint of its own (see
        # `repository._RowRepository`; a cache always defers).
        deferred = not self._joined
        self.projects = SqlProjectRepository(self._outbox, cache, deferred=deferred)
        self.tasks = SqlTaskRepository(self._outbox, cache, deferred=deferred)
        self.alerts = SqlAlertRepository(session, cache)
        self.reports = SqlReportRepository(session)
        self.credit = SqlCreditRepository(session)
        self.stats = SqlStatsRepository(self._outbox)
