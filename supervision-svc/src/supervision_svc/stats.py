"""The overview: projects by status, department workload and speed, open alerts by level.

Ops sees the whole platform; a department sees the figures of its own tasks (and of the
projects it has tasks in).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.auth import Principal, Role
from shared.topics import DEPARTMENT_CODES
from supervision_svc.domain.overdue import LEVELS
from supervision_svc.domain.projection import DECIDED_TASK_STATUSES, PROJECT_STATUSES, mean_hours
from supervision_svc.models import Alert, ProjectView, TaskView
from supervision_svc.schemas import DepartmentStats, Overview


def _count_if(condition: object) -> object:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)  # type: ignore[arg-type]


async def overview(session: AsyncSession, *, principal: Principal, now: datetime) -> Overview:
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
