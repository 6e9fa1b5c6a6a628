"""Where the handlers' rows live: the repositories they are written against, and SQL ones.

Handlers see only the protocols below (through a unit of work, see `unit_of_work`), so their
rules are unit-tested against in-memory fakes; the SQL classes are what the service runs on.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from functools import partial
from typing import Generic, Protocol

from sqlalchemy import and_, func, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import rowcount
from shared.outbox import UnitOfWork as OutboxUnitOfWork
from supervision_svc.domain.alerts import earliest
from supervision_svc.models import Alert, ProjectView, TaskView
from supervision_svc.projection_cache import ProjectionCache
from supervision_svc.rows import PROJECT_ROWS, TASK_ROWS, ProjectRow, R, RowStore, TaskRow


class ProjectRepository(Protocol):
    async def get(self, project_code: str) -> ProjectRow | None: ...

    async def add(self, project: ProjectRow) -> None:
        """Store a new row, or the changes made to a row this repository returned."""
        ...

    async def credit_codes(self, project_codes: Collection[str]) -> dict[str, str]:
        """The enterprise (credit code) of each of these projects that is known."""
        ...

    async def due_for_check(self, *, now: datetime, after: str, limit: int) -> list[ProjectRow]:
        """Projects whose `next_check_at` has come, in project-code order after `after`."""
        ...

    async def next_check_at(self) -> datetime | None:
        """The earliest `next_check_at` of all projects."""
        ...


class TaskRepository(Protocol):
    async def get(self, task_id: str) -> TaskRow | None: ...

    async def add(self, task: TaskRow) -> None: ...

    async def to_check_for_overdue(
        self, *, now: datetime, kind: str, after: str, limit: int
    ) -> list[TaskRow]:
        """Tasks past their yellow threshold still pending, and tasks with an open alert of
        `kind`: `limit` of them in task-id order, after the task id `after`."""
        ...

    async def departments_of(self, project_code: str) -> set[str]:
        """The departments that have a task in this project."""
        ...

    async def next_due(self, *, after: datetime) -> datetime | None:
        """The earliest yellow threshold or due date of a pending task later than `after`."""
        ...


class AlertRepository(Protocol):
    async def open_of_tasks(self, task_ids: Sequence[str], *, kind: str) -> dict[str, list[Alert]]:
        """The open alerts of `kind` of each of these tasks."""
        ...

    async def add_unless_open(self, alert: Alert) -> bool:
        """Store a new open alert; False when one with its `open_key` is already open."""
        ...

    async def resolve(self, alert: Alert, *, now: datetime) -> bool:
        """Close an open alert; False when it was already closed (by someone else)."""
        ...

    async def open_of_project(self, project_code: str, *, kinds: Collection[str]) -> list[Alert]:
        """The open alerts of these kinds of one project."""
        ...

    async def escalate(self, alert: Alert, *, level: str, detail: str, now: datetime) -> bool:
        """Raise an open alert's level; False when it was closed or already at it."""
        ...


class _RowRepository(Generic[R]):
    """What the project and task repositories share: where their rows are kept and written.

    `cache`: what a projection batch read up front (see `projection_cache`); it holds the
    batch's row store, and a batch always writes deferred.

    `deferred`: changed rows are written once, when the transaction flushes (a projection
    batch, a sweep's chunk, an API request), and before a query of the table reads it (what
    the ORM's autoflush did). Otherwise each is written when added: a batch applied again event
    by event runs each event in a savepoint, whose rollback must take its rows back."""

    def __init__(
        self,
        outbox: OutboxUnitOfWork,
        rows: RowStore[R],
        cache: ProjectionCache | None,
        *,
        deferred: bool,
    ) -> None:
        self._outbox = outbox
        self._session = outbox.session
        self._cache = cache
        self._rows: RowStore[R] = rows
        self._deferred = deferred or cache is not None
        self._write = partial(rows.write, self._session)

    async def _keep(self, row: R) -> None:
        """Store `row`: deferred, with the rest of the transaction's changed rows (one write
        per flush, however many rows change); else now."""
        self._rows.add(row)
        if self._deferred:
            self._outbox.before_flush(self._write, key=self._rows)
        else:
            await self._write()

    async def _write_pending(self) -> None:
        """Before a query of the table: write the rows added and not written yet, so that the
        query sees them."""
        if self._rows.pending:
            await self._write()


class SqlProjectRepository(_RowRepository[ProjectRow]):
    def __init__(
        self,
        outbox: OutboxUnitOfWork,
        cache: ProjectionCache | None = None,
        *,
        deferred: bool = False,
    ) -> None:
        rows = cache.project_rows if cache is not None else RowStore(PROJECT_ROWS)
        super().__init__(outbox, rows, cache, deferred=deferred)

    async def get(self, project_code: str) -> ProjectRow | None:
        if self._cache is not None and project_code in self._cache.projects:
            return self._cache.projects[project_code]
        return await self._rows.get(self._session, project_code)

    async def add(self, project: ProjectRow) -> None:
        if self._cache is not None:
            self._cache.projects[project.project_code] = project
        await self._keep(project)

    async def credit_codes(self, project_codes: Collection[str]) -> dict[str, str]:
        if not project_codes:
            return {}
        await self._write_pending()
        rows = await self._session.exec(
            select(ProjectView.project_code, ProjectView.credit_code).where(
                col(ProjectView.project_code).in_(set(project_codes))
            )
        )
        return dict(rows.all())

    async def due_for_check(self, *, now: datetime, after: str, limit: int) -> list[ProjectRow]:
        table = PROJECT_ROWS.table
        await self._write_pending()
        result = await self._session.execute(
            sa_select(table)
            .where(table.c.next_check_at <= now)
            .where(table.c.project_code > after)
            .order_by(table.c.project_code)
            .limit(limit)
        )
        return self._rows.load_all(result)

    async def next_check_at(self) -> datetime | None:
        await self._write_pending()
        return (await self._session.exec(select(func.min(ProjectView.next_check_at)))).one()


class SqlTaskRepository(_RowRepository[TaskRow]):
    def __init__(
        self,
        outbox: OutboxUnitOfWork,
        cache: ProjectionCache | None = None,
        *,
        deferred: bool = False,
    ) -> None:
        rows = cache.task_rows if cache is not None else RowStore(TASK_ROWS)
        super().__init__(outbox, rows, cache, deferred=deferred)

    async def get(self, task_id: str) -> TaskRow | None:
        if self._cache is not None and task_id in self._cache.tasks:
            return self._cache.tasks[task_id]
        return await self._rows.get(self._session, task_id)

    async def add(self, task: TaskRow) -> None:
        if self._cache is not None:
            self._cache.task_added(task)
        await self._keep(task)

    async def to_check_for_overdue(
        self, *, now: datetime, kind: str, after: str, limit: int
    ) -> list[TaskRow]:
        table = TASK_ROWS.table
        with_open_alert = (
            select(Alert.task_id)
            .where(col(Alert.kind) == kind)
            .where(col(Alert.resolved_at).is_(None))
        )
        candidates = or_(
            and_(table.c.status == "pending", table.c.yellow_at <= now),
            table.c.task_id.in_(with_open_alert),
        )
        await self._write_pending()
        result = await self._session.execute(
            sa_select(table)
            .where(candidates)
            .where(table.c.task_id > after)
            .order_by(table.c.task_id)
            .limit(limit)
        )
        return self._rows.load_all(result)

    async def departments_of(self, project_code: str) -> set[str]:
        if self._cache is not None and project_code in self._cache.tasks_of:
            return {t.department for t in self._cache.tasks_of[project_code]}
        # Not a project a batch read up front: the query must see the tasks added and not
        # written yet.
        await self._write_pending()
        rows = await self._session.exec(
            select(TaskView.department).where(col(TaskView.project_code) == project_code)
        )
        return set(rows.all())

    async def next_due(self, *, after: datetime) -> datetime | None:
        await self._write_pending()
        pending = col(TaskView.status) == "pending"
        yellow = await self._session.exec(
            select(func.min(TaskView.yellow_at)).where(pending, col(TaskView.yellow_at) > after)
        )
        due = await self._session.exec(
            select(func.min(TaskView.due_at)).where(pending, col(TaskView.due_at) > after)
        )
        return earliest(yellow.one(), due.one())


class SqlAlertRepository:
    def __init__(self, session: AsyncSession, cache: ProjectionCache | None = None) -> None:
        self._session = session
        self._cache = cache

    def _cached_open_of_tasks(self, task_ids: Sequence[str]) -> list[Alert] | None:
        """The open alerts of these tasks' projects, if the batch read all of them."""
        if self._cache is None:
            return None
        found: list[Alert] = []
        for project_code in {
            getattr(self._cache.tasks.get(t), "project_code", None) for t in task_ids
        }:
            listed = self._cache.open_alerts(project_code) if project_code else None
            if listed is None:
                return None
            found.extend(listed)
        return found

    async def open_of_tasks(self, task_ids: Sequence[str], *, kind: str) -> dict[str, list[Alert]]:
        found: dict[str, list[Alert]] = {}
        if not task_ids:
            return found
        cached = self._cached_open_of_tasks(task_ids)
        if cached is not None:
            for alert in cached:
                if alert.kind == kind and alert.task_id in task_ids:
                    found.setdefault(alert.task_id or "", []).append(alert)
            return found
        rows = await self._session.exec(
            select(Alert)
            .where(col(Alert.task_id).in_(list(task_ids)))
            .where(col(Alert.kind) == kind)
            .where(col(Alert.resolved_at).is_(None))
        )
        for alert in rows.all():
            found.setdefault(alert.task_id or "", []).append(alert)
        return found

    async def add_unless_open(self, alert: Alert) -> bool:
        # `open_key` is unique: of two sweepers racing, the second one's insert fails here,
        # inside a savepoint, so the rest of its transaction goes on.
        try:
            async with self._session.begin_nested():
                self._session.add(alert)
        except IntegrityError:
            return False
        if self._cache is not None:
            self._cache.alert_added(alert)
        return True

    async def resolve(self, alert: Alert, *, now: datetime) -> bool:
        result = await self._session.execute(
            update(Alert)
            .where(col(Alert.alert_id) == alert.alert_id)
            .where(col(Alert.resolved_at).is_(None))
            .values(resolved_at=now, open_key=None)
        )
        if rowcount(result) != 1:
            return False
        alert.resolved_at = now
        alert.open_key = None
        return True

    async def open_of_project(self, project_code: str, *, kinds: Collection[str]) -> list[Alert]:
        cached = self._cache.open_alerts(project_code) if self._cache is not None else None
        if cached is not None:
            return [a for a in cached if a.kind in kinds]
        rows = await self._session.exec(
            select(Alert)
            .where(col(Alert.project_code) == project_code)
            .where(col(Alert.kind).in_(list(kinds)))
            .where(col(Alert.resolved_at).is_(None))
        )
        return list(rows.all())

    async def escalate(self, alert: Alert, *, level: str, detail: str, now: datetime) -> bool:
        result = await self._session.execute(
            update(Alert)
            .where(col(Alert.alert_id) == alert.alert_id)
            .where(col(Alert.resolved_at).is_(None))
            .where(col(Alert.level) != level)
            .values(level=level, detail=detail, escalated_at=now)
        )
        if rowcount(result) != 1:
            return False
        alert.level, alert.detail, alert.escalated_at = level, detail, now
        return True
