"""Use cases: raising and resolving alerts, each with its event (through the outbox).

Every raise emits `supervision.alert.raised` and every resolve `supervision.alert.resolved` on
`supervision.alerts`, keyed by the project code, with the alert as `data`. The rules that decide
when (e.g. `domain.overdue`) call these from a sweep or a projection handler.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from shared.events import AlertData, CloudEvent, EventType, new_event
from shared.topics import SUPERVISION_ALERTS
from supervision_svc.domain.alerts import APPROVAL_OVERDUE, Level, open_key
from supervision_svc.metrics import ALERTS_RAISED, ALERTS_RESOLVED, OVERDUE_ALERTS_RAISED
from supervision_svc.models import Alert
from supervision_svc.unit_of_work import SupervisionUnitOfWork

SOURCE = "/supervision-svc"


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
    if kind == APPROVAL_OVERDUE and department:
        OVERDUE_ALERTS_RAISED.labels(department, level).inc()
    return alert


async def resolve_alert(
    uow: SupervisionUnitOfWork, *, alert: Alert, now: datetime, cause: CloudEvent | None = None
) -> bool:
    """Close an open alert; False when someone else closed it first."""
    if not await uow.alerts.resolve(alert, now=now):
        return False
    _emit(uow, EventType.ALERT_RESOLVED, alert, now=now, cause=cause)
    ALERTS_RESOLVED.labels(alert.kind, alert.level).inc()
    return True


async def resolve_task_alerts(
    uow: SupervisionUnitOfWork, *, task_id: str, now: datetime, cause: CloudEvent | None = None
) -> int:
    """Resolve every open `approval_overdue` alert of a task (it no longer waits)."""
    alerts = (await uow.alerts.open_of_tasks([task_id], kind=APPROVAL_OVERDUE)).get(task_id, [])
    resolved = 0
    for alert in alerts:
        resolved += await resolve_alert(uow, alert=alert, now=now, cause=cause)
    return resolved
