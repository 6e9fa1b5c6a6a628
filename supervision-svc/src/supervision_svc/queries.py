"""Reads of the supervision service: the overview and the alerts, scoped by the caller.

Ops sees the whole platform; a department the figures and alerts of its own tasks (and the
projects it has tasks in); an enterprise the alerts of its own projects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from shared.auth import Principal, Role
from shared.pagination import split_page
from shared.topics import DEPARTMENT_CODES
from supervision_svc.domain.alerts import LEVELS
from supervision_svc.domain.projection import DECIDED_TASK_STATUSES, PROJECT_STATUSES, mean_hours
from supervision_svc.models import Alert, ProjectView, TaskView
from supervision_svc.schemas import DepartmentStats, Overview

# --- the overview ----------------------------------------------------------------------------


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def overview(session: AsyncSession, *, principal: Principal, now: datetime) -> Overview:
    """Projects by status, department workload and speed, open alerts by level."""
    department = principal.department if principal.role is Role.DEPARTMENT else None

    projects = select(ProjectView.status, func.count()).group_by(col(ProjectView.status))
    if department is not None:
        projects = projects.where(
            col(ProjectView.project_code).in_(
                select(TaskView.project_code).where(col(TaskView.department) == department)
            )
        )
    by_status = dict.fromkeys(PROJECT_STATUSES, 0)
    for status, n in (await session.exec(projects)).all():
        by_status[status] = by_status.get(status, 0) + int(n)

    pending = col(TaskView.status) == "pending"
    # sqlmodel's select() is typed for at most four columns; this one has seven.
    tasks = select(  # type: ignore[call-overload]
        TaskView.department,
        _count_if(pending),
        _count_if(pending & (col(TaskView.due_at) < now)),
        _count_if(col(TaskView.status).in_(DECIDED_TASK_STATUSES)),
        _count_if(col(TaskView.status) == "supplement_required"),
        func.sum(col(TaskView.decision_seconds)),
        func.count(col(TaskView.decision_seconds)),
    ).group_by(col(TaskView.department))
    if department is not None:
        tasks = tasks.where(col(TaskView.department) == department)
    codes = [department] if department is not None else list(DEPARTMENT_CODES)
    by_department = {code: DepartmentStats() for code in codes}
    for dept, n_pending, n_overdue, n_decided, n_paused, seconds, n_timed in (
        await session.exec(tasks)
    ).all():
        by_department[dept] = DepartmentStats(
            pending=int(n_pending),
            overdue=int(n_overdue),
            decided=int(n_decided),
            awaiting_supplement=int(n_paused),
            mean_decision_hours=mean_hours(
                float(seconds) if seconds is not None else None, int(n_timed)
            ),
        )

    alerts = (
        select(Alert.level, func.count())
        .where(col(Alert.resolved_at).is_(None))
        .group_by(col(Alert.level))
    )
    if department is not None:
        alerts = alerts.where(col(Alert.department) == department)
    by_level: dict[str, int] = dict.fromkeys(LEVELS, 0)
    for level, n in (await session.exec(alerts)).all():
        by_level[level] = by_level.get(level, 0) + int(n)

    return Overview(
        as_of=now,
        projects_total=sum(by_status.values()),
        projects_by_status=by_status,
        by_department=by_department,
        alerts_by_level=by_level,
    )


# --- alerts ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertFilter:
    project_code: str | None = None
    level: str | None = None
    kind: str | None = None
    status: str | None = None  # "open" | "resolved"


@dataclass(frozen=True, slots=True)
class AlertPosition:
    """Where a page of alerts (newest first) ended: its last alert's sort key."""

    raised_at: datetime
    alert_id: str


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
    after: AlertPosition | None,
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
    if after is not None:
        query = query.where(
            or_(
                col(Alert.raised_at) < after.raised_at,
                and_(col(Alert.raised_at) == after.raised_at, col(Alert.alert_id) < after.alert_id),
            )
        )
    query = query.order_by(col(Alert.raised_at).desc(), col(Alert.alert_id).desc())
    return split_page(
        (await session.exec(query.limit(limit + 1))).all(),
        limit,
        lambda alert: [alert.raised_at.isoformat(), alert.alert_id],
    )


async def get_alert(session: AsyncSession, alert_id: str, *, principal: Principal) -> Alert | None:
    query = visible_to(select(Alert).where(col(Alert.alert_id) == alert_id), principal)
    return (await session.exec(query)).first()
