"""Persistence of the project aggregate in SQL: rows <-> ``domain.project.Project``.

The rows only store what the domain decided: a project is loaded into a ``Project``, changed by
its methods, and ``save`` writes the columns that changed back into its rows.

SQLAlchemy Core, not the ORM: these statements run for every submission and every decision,
and ORM objects (identity map, change tracking, autoflush before each query) cost more CPU than
the statements themselves. Within one transaction a project is read once: later changes in the
same transaction (a consumer batch deciding several of its tasks) start from the state saved
last, which is what the database holds under the transaction's lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from approval_svc import models
from approval_svc.domain.deadlines import TimeLimits
from approval_svc.domain.project import Project, ProjectRecord
from approval_svc.domain.statemachine import ProjectState, ProjectStatus, TaskState, TaskStatus
from approval_svc.domain.workdays import as_day_kind
from shared.db import table_of
from shared.outbox import UnitOfWork as OutboxUnitOfWork

# --- rows <-> domain ----------------------------------------------------------------------------


# A row is a `models.Project`/`models.Task` or a Core row of their tables: the same names.
def project_from_rows(row: Any, tasks: Sequence[Any]) -> Project:
    record = ProjectRecord(
        code=row.project_code,
        credit_code=row.credit_code,
        name=row.name,
        region_code=row.region_code,
        industry_code=row.industry_code,
        procedure=row.procedure,
        total_investment=row.total_investment,
        location=row.location,
        planned_start=row.planned_start,
        description=row.description,
        details=row.details,
        submitted_at=row.submitted_at,
        credit_flag=row.credit_flag,
    )
    state = ProjectState(
        code=row.project_code,
        status=ProjectStatus(row.status),
        tasks=tuple(task_from_row(t) for t in sorted(tasks, key=lambda t: t.position)),
    )
    return Project(record, state, row.updated_at)


def task_from_row(row: Any) -> TaskState:
    return TaskState(
        task_id=row.task_id,
        department=row.department,
        matter_code=row.matter_code,
        status=TaskStatus(row.status),
        consultative=row.consultative,
        deemed=row.deemed,
        missing_materials=tuple(row.missing_materials),
        matter_name=row.matter_name,
        limits=TimeLimits(
            day_kind=as_day_kind(row.day_kind),
            legal_limit_days=row.legal_limit_days,
            promised_limit_days=row.promised_limit_days,
            assigned_at=row.assigned_at,
            due_at=row.due_at,
            promised_due_at=row.promised_due_at,
            reply_due_at=row.reply_due_at,
            paused_days=row.paused_days,
            paused_at=row.paused_at,
        ),
        decision=row.decision,
        opinion=row.opinion,
        decided_at=row.decided_at,
        document_number=row.document_number,
    )


def _task_values(task: TaskState) -> dict[str, Any]:
    """The columns of a task row that its state decides."""
    limits = task.limits
    assert limits is not None, "a stored task always has its time limits"
    return {
        "status": task.status.value,
        "consultative": task.consultative,
        "deemed": task.deemed,
        "missing_materials": list(task.missing_materials),
        "matter_name": task.matter_name,
        "day_kind": limits.day_kind,
        "legal_limit_days": limits.legal_limit_days,
        "promised_limit_days": limits.promised_limit_days,
        "assigned_at": limits.assigned_at,
        "due_at": limits.due_at,
        "promised_due_at": limits.promised_due_at,
        "reply_due_at": limits.reply_due_at,
        "paused_days": limits.paused_days,
        "paused_at": limits.paused_at,
        "decision": task.decision,
        "opinion": task.opinion,
        "decided_at": task.decided_at,
        "document_number": task.document_number,
    }


def _new_rows(project: Project) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    r = project.record
    row = {
        "project_code": r.code,
        "credit_code": r.credit_code,
        "name": r.name,
        "region_code": r.region_code,
        "industry_code": r.industry_code,
        "procedure": r.procedure,
        "status": project.status.value,
        "total_investment": r.total_investment,
        "location": r.location,
        "planned_start": r.planned_start,
        "description": r.description,
        "details": dict(r.details),
        "submitted_at": r.submitted_at,
        "updated_at": project.updated_at,
        "credit_flag": r.credit_flag,
    }
    tasks = [
        {
            "task_id": t.task_id,
            "project_code": r.code,
            "position": position,
            "department": t.department,
            "matter_code": t.matter_code,
            "credit_flag": r.credit_flag,
            **_task_values(t),
        }
        for position, t in enumerate(project.tasks)
    ]
    return row, tasks


# --- repositories -------------------------------------------------------------------------------

PROJECTS = table_of(models.Project)
TASKS = table_of(models.Task)

_TASK_COLUMNS = tuple(TASKS.c)
# Ids per IN list: well inside every driver's limit on bound parameters.
_IN_CHUNK = 500

# Built once, with bound parameters (IN lists expand at execution): built per call, a
# statement cost more CPU than running it, and a prebuilt one keeps its cache key.
_PROJECT_LOCKED = (
    select(PROJECTS).where(PROJECTS.c.project_code == bindparam("code")).with_for_update()
)
_TASKS_OF = (
    select(*_TASK_COLUMNS)
    .where(TASKS.c.project_code == bindparam("code"))
    .order_by(TASKS.c.position)
)
_CODE_OF_TASK = select(TASKS.c.project_code).where(TASKS.c.task_id == bindparam("task_id"))
_CODES_OF_TASKS = (
    select(TASKS.c.project_code)
    .where(TASKS.c.task_id.in_(bindparam("task_ids", expanding=True)))
    .distinct()
)
# Locked in code order, as any other transaction locking several would.
_PROJECTS_LOCKED = (
    select(PROJECTS)
    .where(PROJECTS.c.project_code.in_(bindparam("codes", expanding=True)))
    .order_by(PROJECTS.c.project_code)
    .with_for_update()
)
_TASKS_OF_PROJECTS = select(*_TASK_COLUMNS).where(
    TASKS.c.project_code.in_(bindparam("codes", expanding=True))
)
_UPDATE_PROJECT = update(PROJECTS).where(PROJECTS.c.project_code == bindparam("key_code"))
# The SET clause is made of the parameters' keys that name columns.
_UPDATE_TASK = update(TASKS).where(TASKS.c.task_id == bindparam("key_task_id"))


class SqlProjects:
    """Projects in the approval database, within one session's transaction.

    ``deferred``: for the use cases of one consumer batch (``UnitOfWork.shared``). A saved
    project stays in memory and every project changed by the batch is written at commit, with
    one statement per table; ``preload_tasks`` reads the projects of many tasks at once.
    """

    def __init__(
        self, session: AsyncSession, outbox: OutboxUnitOfWork, *, deferred: bool = False
    ) -> None:
        self._session = session
        self._outbox = outbox
        self._deferred = deferred
        # Each project as the database holds it (read, or last written) and as this
        # transaction last saved it; they differ only while a deferred write is pending.
        self._stored: dict[str, Project] = {}
        self._loaded: dict[str, Project] = {}
        self._code_of_task: dict[str, str] = {}
        self._dirty: dict[str, None] = {}  # codes saved but not written (deferred), in order

    async def get(self, code: str) -> Project | None:
        """The project, its row locked until the transaction ends, so that every change to
        one project is serialised (and its outbox ids, hence its events, stay in order)."""
        known = self._loaded.get(code)
        if known is not None:
            return known  # already read, and locked, by this transaction
        row = (await self._session.execute(_PROJECT_LOCKED, {"code": code})).first()
        if row is None:
            return None
        tasks = (await self._session.execute(_TASKS_OF, {"code": code})).all()
        return self._read(project_from_rows(row, tasks))

    async def get_by_task(self, task_id: str) -> Project | None:
        code = self._code_of_task.get(task_id)
        if code is None:
            result = await self._session.execute(_CODE_OF_TASK, {"task_id": task_id})
            code = result.scalar_one_or_none()
        return await self.get(code) if code else None

    async def preload_tasks(self, task_ids: Sequence[str], *, codes: Sequence[str] = ()) -> None:
        """Read (and lock) the projects of all these tasks at once, so that ``get_by_task`` of
        any of them needs no statement. Unknown task ids are left out.

        ``codes``, the projects the tasks are said to belong to (a decision's subject), are
        read first, with two statements; the tasks not found in them are looked up by id, with
        one more. On PostgreSQL each statement is a round trip that a batch of decisions waits
        for (several ms each on a busy machine)."""
        await self._load_locked(sorted(set(codes) - self._loaded.keys()))
        wanted = sorted({t for t in task_ids if t not in self._code_of_task})
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start : start + _IN_CHUNK]
            found = await self._session.execute(_CODES_OF_TASKS, {"task_ids": chunk})
            await self._load_locked(sorted(set(found.scalars().all()) - self._loaded.keys()))

    async def _load_locked(self, codes: Sequence[str]) -> None:
        for start in range(0, len(codes), _IN_CHUNK):
            chunk = codes[start : start + _IN_CHUNK]
            rows = (await self._session.execute(_PROJECTS_LOCKED, {"codes": chunk})).all()
            tasks: dict[str, list[Any]] = {}
            for task in (await self._session.execute(_TASKS_OF_PROJECTS, {"codes": chunk})).all():
                tasks.setdefault(task.project_code, []).append(task)
            for row in rows:
                self._read(project_from_rows(row, tasks.get(row.project_code, ())))

    def _read(self, project: Project) -> Project:
        self._stored[project.code] = project
        return self._remember(project)

    def _remember(self, project: Project) -> Project:
        self._loaded[project.code] = project
        for task in project.tasks:
            self._code_of_task[task.task_id] = project.code
        return project

    def add(self, project: Project) -> None:
        """Inserted at commit, with the transaction's other new rows (a uniqueness conflict
        then surfaces as the commit's)."""
        row, tasks = _new_rows(project)
        self._outbox.add_row(models.Project, row)
        for task in tasks:
            self._outbox.add_row(models.Task, task)
        self._read(project)

    async def save(self, project: Project) -> None:
        self._remember(project)
        if not self._deferred:
            await self._write([project.code])
            return
        if not self._dirty:
            self._outbox.before_flush(self._write_dirty)
        self._dirty[project.code] = None

    async def _write_dirty(self) -> None:
        codes, self._dirty = list(self._dirty), {}
        await self._write(codes)

    async def _write(self, codes: Sequence[str]) -> None:
        """The project rows and the task rows that changed since they were read or written."""
        projects: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        for code in codes:
            project, before = self._loaded[code], self._stored[code]
            projects.append(
                {
                    "key_code": code,
                    "status": project.status.value,
                    "updated_at": project.updated_at,
                }
            )
            previous = {t.task_id: t for t in before.tasks}
            changed.extend(
                {"key_task_id": task.task_id, **_task_values(task)}
                for task in project.tasks
                if previous.get(task.task_id) != task
            )
            self._stored[code] = project
        if projects:
            await self._session.execute(_UPDATE_PROJECT, projects)
        if changed:
            await self._session.execute(_UPDATE_TASK, changed)

    async def consultations_due(self, now: datetime, limit: int) -> list[str]:
        """Ids of pending consultations whose reply limit has passed (``Project.
        consultation_overdue`` in SQL)."""
        rows = await self._session.execute(
            select(TASKS.c.task_id)
            .where(TASKS.c.status == TaskStatus.PENDING.value)
            .where(TASKS.c.consultative.is_(True))
            .where(TASKS.c.reply_due_at <= now)
            .limit(limit)
        )
        return list(rows.scalars().all())
