"""Use cases: the projection of approval-svc's projects and tasks (one handler per kind of data).

Upserts are idempotent (a replayed event yields the same row) and only ever move a row forward
(see `domain.projection`). When a task stops waiting on its department, its open
`approval_overdue` alerts are resolved in the same transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime

from shared.events import CloudEvent, ProjectData, TaskData
from supervision_svc.domain.projection import (
    decision_seconds,
    project_supersedes,
    task_supersedes,
    yellow_threshold,
)
from supervision_svc.handlers.alerts import resolve_task_alerts
from supervision_svc.models import ProjectView, TaskView
from supervision_svc.unit_of_work import SupervisionUnitOfWork


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def project_changed(
    uow: SupervisionUnitOfWork,
    *,
    project: ProjectData,
    version: datetime,
    now: datetime,
    cause: CloudEvent | None = None,
) -> None:
    """A `project.*` event: the project as it now is, with its tasks."""
    await _upsert_project(uow, project, version=version)
    for task in project.tasks:
        await task_changed(uow, task=task, version=version, now=now, cause=cause)


async def task_changed(
    uow: SupervisionUnitOfWork,
    *,
    task: TaskData,
    version: datetime,
    now: datetime,
    cause: CloudEvent | None = None,
) -> None:
    """A task event (or a task inside a project event): the task as it now is."""
    row = await _upsert_task(uow, task, version=version)
    if row.status != "pending":
        await resolve_task_alerts(uow, task_id=row.task_id, now=now, cause=cause)


async def _upsert_project(
    uow: SupervisionUnitOfWork, data: ProjectData, *, version: datetime
) -> bool:
    """Apply a project snapshot; returns whether the stored row changed."""
    row = await uow.projects.get(data.project_code)
    if row is None:
        uow.projects.add(
            ProjectView(
                project_code=data.project_code,
                credit_code=data.credit_code,
                name=data.name[:200],
                status=data.status,
                procedure=data.procedure,
                region_code=data.region_code,
                planned_start=data.planned_start,
                submitted_at=_aware(data.submitted_at),
                updated_at=_aware(data.updated_at or version),
                version_at=version,
            )
        )
        return True
    if not project_supersedes(
        current_status=row.status,
        current_version=row.version_at,
        incoming_status=data.status,
        incoming_version=version,
    ):
        return False
    row.credit_code = data.credit_code
    row.name = data.name[:200]
    row.status = data.status
    row.procedure = data.procedure
    row.region_code = data.region_code
    row.planned_start = data.planned_start
    row.submitted_at = _aware(data.submitted_at)
    row.updated_at = _aware(data.updated_at or version)
    row.version_at = max(row.version_at, version)
    uow.projects.add(row)
    return True


async def _upsert_task(
    uow: SupervisionUnitOfWork, data: TaskData, *, version: datetime
) -> TaskView:
    """Apply a task snapshot; returns the stored row (changed or not)."""
    assigned_at, due_at = _aware(data.assigned_at), _aware(data.due_at)
    decided_at = _aware(data.decided_at) if data.decided_at else None
    row = await uow.tasks.get(data.task_id)
    if row is not None and not task_supersedes(
        current_status=row.status,
        current_version=row.version_at,
        incoming_status=data.status,
        incoming_version=version,
    ):
        return row
    if row is None:
        row = TaskView(
            task_id=data.task_id,
            project_code=data.project_code,
            department=data.department,
            matter_code=data.matter_code,
            matter_name=data.matter_name[:200],
            status=data.status,
            assigned_at=assigned_at,
            due_at=due_at,
            yellow_at=yellow_threshold(assigned_at, due_at),
            version_at=version,
        )
    row.status = data.status
    row.department = data.department
    row.matter_code = data.matter_code
    row.matter_name = data.matter_name[:200]
    row.assigned_at = assigned_at
    row.due_at = due_at  # moves when a supplement pause ends
    row.yellow_at = yellow_threshold(assigned_at, due_at)
    row.decided_at = decided_at
    row.decision = data.decision
    row.decision_seconds = decision_seconds(
        status=data.status, assigned_at=assigned_at, decided_at=decided_at
    )
    row.version_at = max(row.version_at, version)
    uow.tasks.add(row)
    return row
