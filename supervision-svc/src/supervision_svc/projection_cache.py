"""What one consumer batch of the projection reads, loaded in three statements before its
first event.

A batch of `approval.projects` events touches a few hundred projects, each several times
(submitted, three tasks assigned, three decisions, approved). Read event by event, each touch
costs a handful of statements (the project, the task, its project's departments, the open
alerts of the task and of the project), and each statement first flushes what the previous
events changed: most of the service's CPU under load. Here the projects of the batch, all
their tasks and their open alerts are read at once (`preload`); the SQL repositories answer
from these maps and keep them up to date as the handlers add and change rows; the projects and
tasks that changed are written when the batch flushes (`rows.RowStore`), the alerts by the
session at commit.

The maps live in the batch's shared state (`shared.outbox.UnitOfWork.shared`), so they exist
only for a batch applied together: when one event fails, the batch is applied again event by
event with nothing shared, and the repositories read from the database as before.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.outbox import UnitOfWork as OutboxUnitOfWork
from supervision_svc.models import Alert
from supervision_svc.rows import PROJECT_ROWS, TASK_ROWS, ProjectRow, RowStore, TaskRow, chunks

SHARED_KEY = "supervision.projection"


@dataclass
class ProjectionCache:
    # By project code; None: read, and not there. Codes not in the map were not read.
    projects: dict[str, ProjectRow | None] = field(default_factory=dict)
    # By task id, the tasks of the projects read; None: an id the batch names that is not there.
    tasks: dict[str, TaskRow | None] = field(default_factory=dict)
    # By project code (every project read has an entry): all its tasks.
    tasks_of: dict[str, list[TaskRow]] = field(default_factory=dict)
    # By project code (every project read has an entry): its alerts open when read or raised
    # since; resolved ones stay listed with `resolved_at` set and are filtered out on reading.
    alerts_of: dict[str, list[Alert]] = field(default_factory=dict)
    # What the database holds of the rows above, and those changed since: written at the
    # batch's flush (see `repository`).
    project_rows: RowStore[ProjectRow] = field(default_factory=lambda: RowStore(PROJECT_ROWS))
    task_rows: RowStore[TaskRow] = field(default_factory=lambda: RowStore(TASK_ROWS))

    @classmethod
    def of(cls, outbox: OutboxUnitOfWork) -> ProjectionCache | None:
        shared = outbox.shared
        return None if shared is None else shared.get(SHARED_KEY)

    def task_added(self, task: TaskRow) -> None:
        self.tasks[task.task_id] = task
        listed = self.tasks_of.get(task.project_code)
        if listed is not None and not any(t is task for t in listed):
            listed.append(task)

    def alert_added(self, alert: Alert) -> None:
        listed = self.alerts_of.get(alert.project_code)
        if listed is not None and not any(a is alert for a in listed):
            listed.append(alert)

    def open_alerts(self, project_code: str) -> list[Alert] | None:
        listed = self.alerts_of.get(project_code)
        return None if listed is None else [a for a in listed if a.resolved_at is None]


async def preload(
    outbox: OutboxUnitOfWork, *, project_codes: Collection[str], task_ids: Collection[str]
) -> None:
    """Read the projects, their tasks and their open alerts into the batch's shared state."""
    shared = outbox.shared
    if shared is None or not project_codes:
        return
    session: AsyncSession = outbox.session
    cache = ProjectionCache()
    codes = sorted(set(project_codes))
    for project in await PROJECT_ROWS.read(session, "project_code", codes):
        cache.projects[project.project_code] = cache.project_rows.loaded(project)
    for task in await TASK_ROWS.read(session, "project_code", codes):
        cache.tasks[task.task_id] = cache.task_rows.loaded(task)
        cache.tasks_of.setdefault(task.project_code, []).append(task)
    for chunk in chunks(codes):
        alerts = await session.exec(
            select(Alert)
            .where(col(Alert.project_code).in_(chunk))
            .where(col(Alert.resolved_at).is_(None))
        )
        for alert in alerts.all():
            cache.alerts_of.setdefault(alert.project_code, []).append(alert)
    for code in codes:
        cache.projects.setdefault(code, None)
        cache.tasks_of.setdefault(code, [])
        cache.alerts_of.setdefault(code, [])
    for task_id in task_ids:
        cache.tasks.setdefault(task_id, None)
    shared[SHARED_KEY] = cache
