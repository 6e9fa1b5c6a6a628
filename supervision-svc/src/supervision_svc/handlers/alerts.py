"""Use cases: raising, escalating and resolving alerts, each with its event (through the outbox).

One alert per kind and subject is open at a time. A raise and an escalation (same `alert_id`,
level red) emit `supervision.alert.raised`, a resolve `supervision.alert.resolved`, on
`supervision.alerts` keyed by the project code, with the alert as `data`. Open-alert counters
(statistics) move in the same transaction, and a red alert of a construction rule leaves a
credit record (`handlers.credit`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from shared.events import SUPERVISION_SOURCE, AlertData, CloudEvent, EventType, new_event
from shared.topics import SUPERVISION_ALERTS
from supervision_svc.domain.alerts import APPROVAL_OVERDUE, Level, Step, open_key, step
from supervision_svc.domain.thresholds import Thresholds
from supervision_svc.handlers.credit import record_red_alert
from supervision_svc.metrics import ALERTS_RAISED, ALERTS_RESOLVED, OVERDUE_ALERTS_RAISED
from supervision_svc.models import Alert
from supervision_svc.stats_repository import PLATFORM
from supervision_svc.unit_of_work import SupervisionUnitOfWork


def alert_data(alert: Alert) -> AlertData:
    return AlertData.model_validate(alert, from_attributes=True)


@dataclass(frozen=True, slots=True)
class AlertSubject:
    """What an alert is about: the project, and for `approval_overdue` the task."""

    kind: str
    project_code: str
    credit_code: str | None = None
    department: str | None = None
    task_id: str | None = None

    @property
    def key(self) -> str:
        return open_key(self.kind, self.task_id or self.project_code)


def _emit(
    uow: SupervisionUnitOfWork,
    event_type: EventType,
    alert: Alert,
    *,
    now: datetime,
    cause: CloudEvent | None,
) -> None:
    event = new_event(
        type=event_type,
        source=SUPERVISION_SOURCE,
        subject=alert.project_code,
        data=alert_data(alert),
        time=now,
        cause=cause,
    )
    uow.emit(event, SUPERVISION_ALERTS, key=alert.project_code)


async def _count_open(uow: SupervisionUnitOfWork, alert: Alert, level: str, delta: int) -> None:
    key = f"{alert.kind}:{level}"
    await uow.stats.bump(PLATFORM, "alerts_open", key, delta)
    if alert.department:
        await uow.stats.bump(alert.department, "alerts_open", key, delta)


def _count_raised(alert: Alert, level: str) -> None:
    ALERTS_RAISED.labels(alert.kind, level).inc()
    if alert.kind == APPROVAL_OVERDUE and alert.department:
        OVERDUE_ALERTS_RAISED.labels(alert.department, level).inc()


async def set_alert_level(
    uow: SupervisionUnitOfWork,
    *,
    subject: AlertSubject,
    current: Alert | None,
    target: Level | None,
    detail: str,
    now: datetime,
    rules: Thresholds,
    cause: CloudEvent | None = None,
) -> Step | None:
    """Make the alert of `subject` show `target` (None: resolved); returns what was done."""
    action = step(current.level if current is not None else None, target)
    if action == "raise" and target is not None:
        done = await raise_alert(
            uow, subject=subject, level=target, detail=detail, now=now, rules=rules, cause=cause
        )
        return action if done is not None else None
    if action == "escalate" and current is not None and target is not None:
        escalated = await escalate_alert(
            uow, alert=current, level=target, detail=detail, now=now, rules=rules, cause=cause
        )
        return action if escalated else None
    if action == "resolve" and current is not None:
        return action if await resolve_alert(uow, alert=current, now=now, cause=cause) else None
    return None


async def raise_alert(
    uow: SupervisionUnitOfWork,
    *,
    subject: AlertSubject,
    level: Level,
    detail: str,
    now: datetime,
    rules: Thresholds,
    cause: CloudEvent | None = None,
) -> Alert | None:
    """Open an alert unless one of its kind is already open for the subject."""
    alert = Alert(
        alert_id=str(uuid.uuid4()),
        project_code=subject.project_code,
        kind=subject.kind,
        level=level,
        raised_at=now,
        detail=detail[:1000],
        credit_code=subject.credit_code,
        department=subject.department,
        task_id=subject.task_id,
        open_key=subject.key,
    )
    if not await uow.alerts.add_unless_open(alert):
        return None  # another sweeper opened it first
    _emit(uow, EventType.ALERT_RAISED, alert, now=now, cause=cause)
    await _count_open(uow, alert, level, +1)
    _count_raised(alert, level)
    if level == "red":
        await record_red_alert(uow, alert=alert, now=now, rules=rules, cause=cause)
    return alert


async def escalate_alert(
    uow: SupervisionUnitOfWork,
    *,
    alert: Alert,
    level: Level,
    detail: str,
    now: datetime,
    rules: Thresholds,
    cause: CloudEvent | None = None,
) -> bool:
    """Raise an open alert's level (same alert id) and announce it again."""
    previous = alert.level
    if not await uow.alerts.escalate(alert, level=level, detail=detail[:1000], now=now):
        return False
    _emit(uow, EventType.ALERT_RAISED, alert, now=now, cause=cause)
    await _count_open(uow, alert, previous, -1)
    await _count_open(uow, alert, level, +1)
    _count_raised(alert, level)
    if level == "red":
        await record_red_alert(uow, alert=alert, now=now, rules=rules, cause=cause)
    return True


async def resolve_alert(
    uow: SupervisionUnitOfWork, *, alert: Alert, now: datetime, cause: CloudEvent | None = None
) -> bool:
    """Close an open alert; False when someone else closed it first."""
    if not await uow.alerts.resolve(alert, now=now):
        return False
    _emit(uow, EventType.ALERT_RESOLVED, alert, now=now, cause=cause)
    await _count_open(uow, alert, alert.level, -1)
    ALERTS_RESOLVED.labels(alert.kind, alert.level).inc()
    return True


async def resolve_task_alerts(
    uow: SupervisionUnitOfWork, *, task_id: str, now: datetime, cause: CloudEvent | None = None
) -> int:
    """Resolve the open `approval_overdue` alert of a task (it no longer waits)."""
    alerts = (await uow.alerts.open_of_tasks([task_id], kind=APPROVAL_OVERDUE)).get(task_id, [])
    resolved = 0
    for alert in alerts:
        resolved += await resolve_alert(uow, alert=alert, now=now, cause=cause)
    return resolved
