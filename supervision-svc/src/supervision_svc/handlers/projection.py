"""Use cases: the projection of approval-svc's projects and tasks (one handler per kind of data).

Upserts are idempotent (a replayed event yields the same row) and only ever move a row forward
(see `domain.projection`). In the same transaction: the statistics counters move with each
change of status (never recomputed by scanning), a task that stops waiting on its department
has its `approval_overdue` alert resolved, and a project whose status changed has its
construction rules checked (approval resolves `started_before_approval`, and starts the
`start_overdue` clock).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.events import CloudEvent, ProjectData, TaskData
from supervision_svc.domain.construction import CLEARED_STATUSES
from supervision_svc.domain.projection import (
    DECIDED_TASK_STATUSES,
    decision_seconds,
    project_supersedes,
    task_supersedes,
    yellow_threshold,
)
from supervision_svc.domain.thresholds import Thresholds
from supervision_svc.handlers.alerts import resolve_task_alerts
from supervision_svc.handlers.construction import check_project
from supervision_svc.rows import ProjectRow, TaskRow
from supervision_svc.stats_repository import PLATFORM
from supervision_svc.unit_of_work import SupervisionUnitOfWork

COUNTED_TASK_STATUSES = ("pending", "supplement_required")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def project_changed(
    uow: SupervisionUnitOfWork,
    *,
    project: ProjectData,
    version: datetime,
    now: datetime,
    rules: Thresholds,
    cause: CloudEvent | None = None,
) -> None:
    """A `project.*` event: the project as it now is, with its tasks."""
    row = await _upsert_project(uow, project, version=version, now=now)
    for task in project.tasks:
        await task_changed(uow, task=task, version=version, now=now, rules=rules, cause=cause)
    if row is not None:
        await check_project(uow, project=row, now=now, rules=rules, cause=cause)


async def task_changed(
    uow: SupervisionUnitOfWork,
    *,
    task: TaskData,
    version: datetime,
    now: datetime,
    rules: Thresholds,
    cause: CloudEvent | None = None,
) -> None:
    """A task event (or a task inside a project event): the task as it now is."""
    row = await _upsert_task(uow, task, version=version, rules=rules)
    if row.status != "pending":
        await resolve_task_alerts(uow, task_id=row.task_id, now=now, cause=cause)


async def _count_project(
    uow: SupervisionUnitOfWork, code: str, old: str | None, new: str, *, new_row: bool
) -> None:
    if old == new:
        return
    scopes = [PLATFORM] if new_row else [PLATFORM, *sorted(await uow.tasks.departments_of(code))]
    for scope in scopes:
        if old is not None:
            await uow.stats.bump(scope, "project_status", old, -1)
        await uow.stats.bump(scope, "project_status", new, +1)


async def _upsert_project(
    uow: SupervisionUnitOfWork, data: ProjectData, *, version: datetime, now: datetime
) -> ProjectRow | None:
    """Apply a project snapshot; returns the row if it changed."""
    row = await uow.projects.get(data.project_code)
    cleared = now if data.status in CLEARED_STATUSES else None
    values: dict[str, Any] = {
        "credit_code": data.credit_code,
        "name": data.name[:200],
        "status": data.status,
        "procedure": data.procedure,
        "region_code": data.region_code,
        "industry_code": data.industry_code[:16],
        "planned_start": data.planned_start,
        "submitted_at": _aware(data.submitted_at),
        "updated_at": _aware(data.updated_at or version),
    }
    if row is None:
        row = ProjectRow(
            project_code=data.project_code,
            version_at=version,
            cleared_at=_aware(data.updated_at or cleared) if cleared else None,
            **values,
        )
        await uow.projects.add(row)
        await _count_project(uow, row.project_code, None, row.status, new_row=True)
        day = row.submitted_at.date()
        await uow.stats.count_submission(dimension="region", day=day, key=row.region_code)
        await uow.stats.count_submission(dimension="industry", day=day, key=data.industry_code)
        return row
    if not project_supersedes(
        current_status=row.status,
        current_version=row.version_at,
        incoming_status=data.status,
        incoming_version=version,
    ):
        return None
    await _count_project(uow, row.project_code, row.status, data.status, new_row=False)
    if cleared and row.cleared_at is None:
        row.cleared_at = _aware(data.updated_at or cleared)
    _assign(row, values)
    if version > row.version_at:
        row.version_at = version
    await uow.projects.add(row)
    return row


def _assign(row: ProjectRow | TaskRow, values: dict[str, Any]) -> None:
    """Set the row's columns to a snapshot's values (the repository writes only those that
    differ from what the database holds: most of a snapshot repeats it, as a project event
    carries every task again)."""
    for name, value in values.items():
        setattr(row, name, value)


async def _count_task(
    uow: SupervisionUnitOfWork, old: TaskRow | None, row: TaskRow, old_status: str | None
) -> None:
    dept, new_status = row.department, row.status
    if old is None:
        # A department's first task in a project: the project now counts for it too.
        project = await uow.projects.get(row.project_code)
        if project is not None and dept not in await uow.tasks.departments_of(row.project_code):
            await uow.stats.bump(dept, "project_status", project.status, +1)
    for status in COUNTED_TASK_STATUSES:
        delta = (new_status == status) - (old_status == status)
        await uow.stats.bump(dept, "tasks", status, delta)
    if new_status in DECIDED_TASK_STATUSES and old_status not in DECIDED_TASK_STATUSES:
        await uow.stats.bump(dept, "tasks", "decided", +1)
        await uow.stats.bump(dept, "decision_seconds", "sum", row.decision_seconds or 0.0)
        if row.decided_at is not None and row.decided_at <= row.due_at:
            await uow.stats.bump(dept, "tasks", "on_time", +1)


async def _upsert_task(
    uow: SupervisionUnitOfWork, data: TaskData, *, version: datetime, rules: Thresholds
) -> TaskRow:
    """Apply a task snapshot; returns the stored row (changed or not)."""
    assigned_at, due_at = _aware(data.assigned_at), _aware(data.due_at)
    decided_at = _aware(data.decided_at) if data.decided_at else None
    existing = await uow.tasks.get(data.task_id)
    if existing is not None and not task_supersedes(
        current_status=existing.status,
        current_version=existing.version_at,
        incoming_status=data.status,
        incoming_version=version,
    ):
        return existing
    values: dict[str, Any] = {
        "status": data.status,
        "department": data.department,
        "matter_code": data.matter_code,
        "matter_name": data.matter_name[:200],
        "assigned_at": assigned_at,
        "due_at": due_at,  # moves when a supplement pause ends
        "yellow_at": yellow_threshold(assigned_at, due_at, rules.approval_yellow_ratio),
        "decided_at": decided_at,
        "decision": data.decision,
        "decision_seconds": decision_seconds(
            status=data.status, assigned_at=assigned_at, decided_at=decided_at
        ),
    }
    if existing is None:
        row = TaskRow(
            task_id=data.task_id, project_code=data.project_code, version_at=version, **values
        )
        await _count_task(uow, None, row, None)
    else:
        row, old_status = existing, existing.status
        _assign(row, values)
        if version > row.version_at:
            row.version_at = version
        await _count_task(uow, existing, row, old_status)
    await uow.tasks.add(row)
    return row
