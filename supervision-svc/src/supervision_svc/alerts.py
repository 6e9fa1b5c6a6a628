"""Alerts: raising and resolving them (with their events, through the outbox) and reading them.

Every raise emits `supervision.alert.raised` and every resolve `supervision.alert.resolved` on
`supervision.alerts`, keyed by the project code, with the alert as `data`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import Counter
from sqlalchemy import and_, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from shared.auth import Principal, Role
from shared.events import SUPERVISION_SOURCE, AlertData, CloudEvent, new_event
from shared.outbox import UnitOfWork
from shared.pagination import CursorCodec
from shared.topics import SUPERVISION_ALERTS
from supervision_svc.domain.overdue import APPROVAL_OVERDUE, open_key
from supervision_svc.models import Alert, ProjectView

ALERT_RAISED = "supervision.alert.raised"
ALERT_RESOLVED = "supervision.alert.resolved"

ALERTS_RAISED = Counter(
    "supervision_alerts_raised_total", "Alerts raised, by kind and level.", ["kind", "level"]
)
ALERTS_RESOLVED = Counter(
    "supervision_alerts_resolved_total", "Alerts resolved, by kind and level.", ["kind", "level"]
)


def alert_data(alert: Alert) -> AlertData:
    return AlertData(
        alert_id=alert.alert_id,
        project_code=alert.project_code,
        kind=alert.kind,
        level=alert.level,  # type: ignore[arg-type]
        raised_at=alert.raised_at,
        detail=alert.detail,
        resolved_at=alert.resolved_at,
        credit_code=alert.credit_code,
        department=alert.department,
        task_id=alert.task_id,
    )


def _emit(uow: UnitOfWork, event_type: str, alert: Alert, *, now: datetime, cause: Any) -> None:
    event = new_event(
        type=event_type,
        source=SUPERVISION_SOURCE,
        subject=alert.project_code,
        data=alert_data(alert),
        time=now,
        cause=cause if isinstance(cause, CloudEvent) else None,
    )
    uow.emit(event, SUPERVISION_ALERTS, key=alert.project_code)


async def raise_alert(
    uow: UnitOfWork,
    *,
    kind: str,
    level: str,
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
    try:
        async with uow.session.begin_nested():
            uow.session.add(alert)
    except IntegrityError:
        return None  # another sweeper opened it first
    _emit(uow, ALERT_RAISED, alert, now=now, cause=None)
    ALERTS_RAISED.labels(kind, level).inc()
    return alert


async def resolve_alert(
    uow: UnitOfWork, alert: Alert, *, now: datetime, cause: CloudEvent | None = None
) -> bool:
    """Close an open alert; False when someone else closed it first."""
    result = await uow.session.execute(
        update(Alert)
        .where(col(Alert.alert_id) == alert.alert_id)
        .where(col(Alert.resolved_at).is_(None))
        .values(resolved_at=now, open_key=None)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    alert.resolved_at = now
    alert.open_key = None
    _emit(uow, ALERT_RESOLVED, alert, now=now, cause=cause)
    ALERTS_RESOLVED.labels(alert.kind, alert.level).inc()
    return True


async def open_task_alerts(
    session: AsyncSession, task_ids: Sequence[str], *, kind: str = APPROVAL_OVERDUE
) -> dict[str, list[Alert]]:
    """Open alerts of `kind` of each task."""
    found: dict[str, list[Alert]] = {}
    if not task_ids:
        return found
    rows = await session.exec(
        select(Alert)
        .where(col(Alert.task_id).in_(list(task_ids)))
        .where(col(Alert.kind) == kind)
        .where(col(Alert.resolved_at).is_(None))
    )
    for alert in rows.all():
        found.setdefault(alert.task_id or "", []).append(alert)
    return found


async def resolve_task_alerts(
    uow: UnitOfWork, task_id: str, *, now: datetime, cause: CloudEvent | None = None
) -> int:
    """Resolve every open `approval_overdue` alert of a task (it no longer waits)."""
    alerts = (await open_task_alerts(uow.session, [task_id])).get(task_id, [])
    resolved = 0
    for alert in alerts:
        resolved += await resolve_alert(uow, alert, now=now, cause=cause)
    return resolved


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertFilter:
    project_code: str | None = None
    level: str | None = None
    kind: str | None = None
    status: str | None = None  # "open" | "resolved"


def visible_to(query: SelectOfScalar[Alert], principal: Principal) -> SelectOfScalar[Alert]:
    """Ops sees every alert, an enterprise those of its projects, a department its tasks'."""
    if principal.role is Role.OPS:
        return query
    if principal.role is Role.ENTERPRISE:
        own = select(ProjectView.project_code).where(
            col(ProjectView.credit_code) == principal.credit_code
        )
        return query.where(col(Alert.project_code).in_(own))
    return query.where(col(Alert.department) == principal.department)


async def list_alerts(
    session: AsyncSession,
    *,
    principal: Principal,
    filters: AlertFilter,
    limit: int,
    cursor: str | None,
    cursors: CursorCodec,
) -> tuple[list[Alert], str | None]:
    """One page of alerts, newest first; the cursor is the last one's (raised_at, alert_id)."""
    query = visible_to(select(Alert), principal)
    if filters.project_code is not None:
        query = query.where(col(Alert.project_code) == filters.project_code)
    if filters.level is not None:
        query = query.where(col(Alert.level) == filters.level)
    if filters.kind is not None:
        query = query.where(col(Alert.kind) == filters.kind)
    if filters.status == "open":
        query = query.where(col(Alert.resolved_at).is_(None))
    elif filters.status == "resolved":
        query = query.where(col(Alert.resolved_at).is_not(None))
    position = cursors.decode(cursor, (datetime, str))
    if position is not None:
        raised_at, alert_id = position
        query = query.where(
            or_(
                col(Alert.raised_at) < raised_at,
                and_(col(Alert.raised_at) == raised_at, col(Alert.alert_id) < alert_id),
            )
        )
    query = query.order_by(col(Alert.raised_at).desc(), col(Alert.alert_id).desc())
    return cursors.split_page(
        (await session.exec(query.limit(limit + 1))).all(),
        limit,
        lambda alert: (alert.raised_at, alert.alert_id),
    )


async def get_alert(session: AsyncSession, alert_id: str, *, principal: Principal) -> Alert | None:
    query = visible_to(select(Alert).where(col(Alert.alert_id) == alert_id), principal)
    return (await session.exec(query)).first()
