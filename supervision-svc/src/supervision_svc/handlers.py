"""Use cases that change supervision's state.

* the projection of approval-svc's projects and tasks (one handler per kind of `data`);
* alerts: raise, resolve (each with its event on `supervision.alerts`, through the outbox);
* sweeps: rules that fire because time passes (`approval_overdue`), run by `scheduler`.

Handlers are given a unit of work and plain values (the time is `now`, read by the caller),
never a session, a request or a clock, and raise nothing but domain errors.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.events import AlertData, CloudEvent, EventType, ProjectData, TaskData, new_event
from shared.topics import SUPERVISION_ALERTS
from supervision_svc.domain.alerts import APPROVAL_OVERDUE, Level, open_key
from supervision_svc.domain.overdue import overdue_detail, plan_task_alerts
from supervision_svc.domain.projection import (
    decision_seconds,
    project_supersedes,
    task_supersedes,
    yellow_threshold,
)
from supervision_svc.metrics import ALERTS_RAISED, ALERTS_RESOLVED
from supervision_svc.models import Alert, ProjectView, TaskView
from supervision_svc.unit_of_work import SupervisionUnitOfWork

log = logging.getLogger(__name__)

SOURCE = "/supervision-svc"
SWEEP_CHUNK = 500


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# --- the projection of approval's events ---------------------------------------------------
#
# Upserts are idempotent (a replayed event yields the same row) and only ever move a row
# forward (see `domain.projection`). When a task stops waiting on its department, its open
# `approval_overdue` alerts are resolved in the same transaction.


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
        await resolve_task_alerts(uow, row.task_id, now=now, cause=cause)


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


# --- alerts ----------------------------------------------------------------------------------
#
# Every raise emits `supervision.alert.raised` and every resolve `supervision.alert.resolved`
# on `supervision.alerts`, keyed by the project code, with the alert as `data`.


def alert_data(alert: Alert) -> AlertData:
    return AlertData.model_validate(alert, from_attributes=True)


def _emit(
    uow: SupervisionUnitOfWork,
    event_type: EventType,
    alert: Alert,
    *,
    now: datetime,
    cause: CloudEvent | None,
) -> None:
    data = alert_data(alert)
    if cause is not None:
        event = cause.caused(
            type=event_type, source=SOURCE, subject=alert.project_code, data=data, time=now
        )
    else:
        event = new_event(
            type=event_type, source=SOURCE, subject=alert.project_code, data=data, time=now
        )
    uow.emit(event, SUPERVISION_ALERTS, key=alert.project_code)


async def raise_alert(
    uow: SupervisionUnitOfWork,
    *,
    kind: str,
    level: Level,
    project_code: str,
    subject: str,
    detail: str,
    now: datetime,
    credit_code: str | None = None,
    department: str | None = None,
    task_id: str | None = None,
) -> Alert | None:
    """Open an alert unless the same one (kind, subject, level) is already open."""
    alert = Alert(
        alert_id=str(uuid.uuid4()),
        project_code=project_code,
        kind=kind,
        level=level,
        raised_at=now,
        detail=detail[:1000],
        credit_code=credit_code,
        department=department,
        task_id=task_id,
        open_key=open_key(kind, subject, level),
    )
    if not await uow.alerts.add_unless_open(alert):
        return None  # another sweeper opened it first
    _emit(uow, EventType.ALERT_RAISED, alert, now=now, cause=None)
    ALERTS_RAISED.labels(kind, level).inc()
    return alert


async def resolve_alert(
    uow: SupervisionUnitOfWork, alert: Alert, *, now: datetime, cause: CloudEvent | None = None
) -> bool:
    """Close an open alert; False when someone else closed it first."""
    if not await uow.alerts.resolve(alert, now=now):
        return False
    _emit(uow, EventType.ALERT_RESOLVED, alert, now=now, cause=cause)
    ALERTS_RESOLVED.labels(alert.kind, alert.level).inc()
    return True


async def resolve_task_alerts(
    uow: SupervisionUnitOfWork, task_id: str, *, now: datetime, cause: CloudEvent | None = None
) -> int:
    """Resolve every open `approval_overdue` alert of a task (it no longer waits)."""
    alerts = (await uow.alerts.open_of_tasks([task_id], kind=APPROVAL_OVERDUE)).get(task_id, [])
    resolved = 0
    for alert in alerts:
        resolved += await resolve_alert(uow, alert, now=now, cause=cause)
    return resolved


# --- sweeps ----------------------------------------------------------------------------------


@dataclass(slots=True)
class SweepResult:
    checked: int = 0
    raised: int = 0
    resolved: int = 0


async def sweep_approval_overdue(
    *,
    uow_factory: Callable[[], SupervisionUnitOfWork],
    now: datetime,
    chunk: int = SWEEP_CHUNK,
) -> SweepResult:
    """One pass over pending tasks past their yellow threshold and tasks with open alerts:
    yellow at 90 % of the limit, red past it (red resolves the yellow), and the alerts of
    tasks that no longer wait on their department are resolved. One transaction per chunk."""
    result = SweepResult()
    after = ""
    while True:
        async with uow_factory() as uow:
            tasks = await uow.tasks.to_check_for_overdue(
                now=now, kind=APPROVAL_OVERDUE, after=after, limit=chunk
            )
            if not tasks:
                break
            open_alerts = await uow.alerts.open_of_tasks(
                [t.task_id for t in tasks], kind=APPROVAL_OVERDUE
            )
            credit_codes = await uow.projects.credit_codes({t.project_code for t in tasks})
            for task in tasks:
                await _check_overdue(
                    uow,
                    task,
                    open_alerts=open_alerts.get(task.task_id, []),
                    credit_code=credit_codes.get(task.project_code),
                    now=now,
                    result=result,
                )
            await uow.commit()
        after = tasks[-1].task_id
        if len(tasks) < chunk:
            break
    if result.raised or result.resolved:
        log.info(
            "approval_overdue sweep: %d checked, %d raised, %d resolved",
            result.checked,
            result.raised,
            result.resolved,
        )
    return result


async def _check_overdue(
    uow: SupervisionUnitOfWork,
    task: TaskView,
    *,
    open_alerts: list[Alert],
    credit_code: str | None,
    now: datetime,
    result: SweepResult,
) -> None:
    plan = plan_task_alerts(
        status=task.status,
        assigned_at=task.assigned_at,
        due_at=task.due_at,
        now=now,
        open_levels={a.level for a in open_alerts},
    )
    result.checked += 1
    for alert in open_alerts:  # resolve first: consumers see yellow closed, then red
        if alert.level in plan.resolve_levels:
            result.resolved += await resolve_alert(uow, alert, now=now)
    if plan.raise_level is None:
        return
    raised = await raise_alert(
        uow,
        kind=APPROVAL_OVERDUE,
        level=plan.raise_level,
        project_code=task.project_code,
        subject=task.task_id,
        detail=overdue_detail(
            level=plan.raise_level,
            department=task.department,
            matter_name=task.matter_name,
            task_id=task.task_id,
            assigned_at=task.assigned_at,
            due_at=task.due_at,
            now=now,
        ),
        now=now,
        credit_code=credit_code,
        department=task.department,
        task_id=task.task_id,
    )
    result.raised += raised is not None
