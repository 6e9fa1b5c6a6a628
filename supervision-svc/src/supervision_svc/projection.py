"""Projection of approval-svc's `approval.projects` stream into this service's tables.

Upserts are idempotent (a replayed event yields the same row) and only ever move a row forward
(see `domain.projection`). When a task stops waiting on its department, its open
`approval_overdue` alerts are resolved in the same transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.clock import Clock
from shared.consumer import RejectEvent
from shared.events import EVENT_DATA_MODELS, CloudEvent, ProjectData, TaskData
from shared.outbox import UnitOfWork
from supervision_svc.alerts import resolve_task_alerts
from supervision_svc.domain.projection import (
    decision_seconds,
    project_supersedes,
    task_supersedes,
    yellow_threshold,
)
from supervision_svc.models import ProjectView, TaskView

APPROVAL_EVENT_TYPES: tuple[str, ...] = (
    "project.submitted",
    "project.filed",
    "approval.task.assigned",
    "approval.decision.recorded",
    "project.supplement_requested",
    "project.supplement_provided",
    "project.approved",
    "project.rejected",
    "project.withdrawn",
    "approval.task.withdrawn",
)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def parse_approval_data(event: CloudEvent) -> tuple[ProjectData | None, list[TaskData]]:
    """The project (with its tasks) or the single task an approval event carries.

    The contract says a `project.*` event carries the project and a task event the task; a
    task is also accepted under a `project.*` type (recognised by its `task_id` and the
    absence of `credit_code`) so a producer that sends the task it acted on is not lost.
    """
    data: Any = event.data
    if not isinstance(data, dict):
        raise RejectEvent(f"{event.type} {event.id}: data must be a JSON object")
    model = EVENT_DATA_MODELS.get(event.type)
    as_task = model is TaskData or ("task_id" in data and "credit_code" not in data)
    try:
        if as_task:
            return None, [TaskData.model_validate(data)]
        project = ProjectData.model_validate(data)
    except ValidationError as exc:
        what = "task" if as_task else "project"
        raise RejectEvent(f"{event.type} {event.id}: data is not a valid {what}: {exc}") from exc
    return project, list(project.tasks)


async def upsert_project(session: AsyncSession, data: ProjectData, *, version: datetime) -> bool:
    """Apply a project snapshot; returns whether the stored row changed."""
    row = await session.get(ProjectView, data.project_code)
    if row is None:
        session.add(
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
    session.add(row)
    return True


async def upsert_task(session: AsyncSession, data: TaskData, *, version: datetime) -> TaskView:
    """Apply a task snapshot; returns the stored row (changed or not)."""
    assigned_at, due_at = _aware(data.assigned_at), _aware(data.due_at)
    decided_at = _aware(data.decided_at) if data.decided_at else None
    row = await session.get(TaskView, data.task_id)
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
    session.add(row)
    return row


async def apply_approval_event(event: CloudEvent, *, uow: UnitOfWork, clock: Clock) -> None:
    """Project one approval event; resolve alerts of tasks no longer waiting on a department."""
    project, tasks = parse_approval_data(event)
    version = _aware(event.time)
    if project is not None:
        await upsert_project(uow.session, project, version=version)
    for task in tasks:
        row = await upsert_task(uow.session, task, version=version)
        if row.status != "pending":
            await resolve_task_alerts(uow, row.task_id, now=clock.now(), cause=event)
