"""Read side of the approval service: what each caller may see, paginated."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from approval_svc.domain.catalogue import Catalogue
from approval_svc.domain.errors import ProjectNotFound
from approval_svc.domain.statemachine import OPEN_PROJECT_STATUSES, TaskStatus
from approval_svc.domain.workdays import CHINA_TZ
from approval_svc.models import Project, Task, TimelineEntry
from approval_svc.repository import project_from_rows, task_from_row
from approval_svc.representations import project_data, task_data
from approval_svc.schemas import DepartmentOut, MatterOut, PublicResult, TimelineItem
from shared.auth import Principal, Role
from shared.events import ProjectData, TaskData
from shared.pagination import CursorCodec, Page, stored


def _visible(query: Any, principal: Principal) -> Any:
    """Tenant filter: an enterprise sees its projects, a department those it reviews."""
    if principal.role is Role.ENTERPRISE:
        return query.where(Project.credit_code == principal.credit_code)
    if principal.role is Role.DEPARTMENT:
        return query.where(
            exists()
            .where(col(Task.project_code) == col(Project.project_code))
            .where(col(Task.department) == principal.department)
        )
    return query


async def get_project(session: AsyncSession, code: str, principal: Principal) -> ProjectData:
    project = (
        await session.exec(_visible(select(Project).where(Project.project_code == code), principal))
    ).first()
    if project is None:
        raise ProjectNotFound(f"project {code} not found", field="project_code")
    tasks = (
        await session.exec(
            select(Task).where(Task.project_code == code).order_by(col(Task.position))
        )
    ).all()
    return project_data(project_from_rows(project, tasks))


async def list_projects(
    session: AsyncSession,
    principal: Principal,
    *,
    status: str | None,
    region_code: str | None,
    procedure: str | None,
    limit: int,
    cursor: str | None,
    cursors: CursorCodec,
) -> Page[ProjectData]:
    query = _visible(select(Project), principal)
    if status:
        query = query.where(Project.status == status)
    if region_code:
        query = query.where(Project.region_code == region_code)
    if procedure:
        query = query.where(Project.procedure == procedure)
    position = cursors.decode(cursor, (datetime, str))
    if position is not None:
        at, code = position
        query = query.where(
            # The bound alone lets the database start at the cursor in the index instead of
            # reading (and dropping) every row before it; the OR then decides the ties.
            col(Project.submitted_at) <= at,
            or_(
                col(Project.submitted_at) < at,
                and_(col(Project.submitted_at) == at, col(Project.project_code) < code),
            ),
        )
    query = query.order_by(col(Project.submitted_at).desc(), col(Project.project_code).desc())
    projects, next_cursor = cursors.split_page(
        (await session.exec(query.limit(limit + 1))).all(),
        limit,
        lambda p: (p.submitted_at, p.project_code),
    )
    tasks_by_project: dict[str, list[Task]] = defaultdict(list)
    if projects:
        rows = await session.exec(
            select(Task)
            .where(col(Task.project_code).in_([p.project_code for p in projects]))
            .order_by(col(Task.position))
        )
        for task in rows.all():
            tasks_by_project[task.project_code].append(task)
    return Page(
        items=[
            project_data(project_from_rows(p, tasks_by_project[p.project_code])) for p in projects
        ],
        next_cursor=next_cursor,
    )


async def timeline(
    session: AsyncSession,
    code: str,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
    cursors: CursorCodec,
) -> Page[TimelineItem]:
    await get_project(session, code, principal)  # 404 unless visible
    query = select(TimelineEntry).where(TimelineEntry.project_code == code)
    position = cursors.decode(cursor, (int,))
    if position is not None:
        query = query.where(col(TimelineEntry.id) > position[0])
    entries, next_cursor = cursors.split_page(
        (await session.exec(query.order_by(col(TimelineEntry.id)).limit(limit + 1))).all(),
        limit,
        lambda e: (stored(e.id),),
    )
    return Page(
        items=[
            TimelineItem(
                at=e.at,
                action=e.action,
                actor=e.actor,
                actor_role=e.actor_role,
                task_id=e.task_id,
                department=e.department,
                detail=e.detail,
            )
            for e in entries
        ],
        next_cursor=next_cursor,
    )


async def department_tasks(
    session: AsyncSession,
    department: str,
    *,
    status: str | None,
    limit: int,
    cursor: str | None,
    cursors: CursorCodec,
) -> Page[TaskData]:
    query = select(Task).where(Task.department == department)
    if status:
        query = query.where(Task.status == status)
    position = cursors.decode(cursor, (datetime, str))
    if position is not None:
        at, task_id = position
        query = query.where(
            col(Task.assigned_at) >= at,  # seekable bound (see list_projects)
            or_(
                col(Task.assigned_at) > at,
                and_(col(Task.assigned_at) == at, col(Task.task_id) > task_id),
            ),
        )
    query = query.order_by(col(Task.assigned_at), col(Task.task_id)).limit(limit + 1)
    tasks, next_cursor = cursors.split_page(
        (await session.exec(query)).all(),
        limit,
        lambda t: (t.assigned_at, t.task_id),
    )
    return Page(
        items=[
            task_data(t.project_code, task_from_row(t), credit_flag=t.credit_flag) for t in tasks
        ],
        next_cursor=next_cursor,
    )


async def public_results(
    session: AsyncSession,
    catalogue: Catalogue,
    *,
    project_code: str | None,
    limit: int,
    cursor: str | None,
    cursors: CursorCodec,
) -> Page[PublicResult]:
    """Final decisions with their document numbers, newest first (public disclosure)."""
    query = (
        select(Task, Project)
        .join(Project, col(Project.project_code) == col(Task.project_code))
        .where(col(Task.document_number).is_not(None))
    )
    if project_code:
        query = query.where(Task.project_code == project_code)
    position = cursors.decode(cursor, (datetime, str))
    if position is not None:
        at, task_id = position
        query = query.where(
            col(Task.decided_at) <= at,  # seekable bound (see list_projects)
            or_(
                col(Task.decided_at) < at,
                and_(col(Task.decided_at) == at, col(Task.task_id) < task_id),
            ),
        )
    query = query.order_by(col(Task.decided_at).desc(), col(Task.task_id).desc())
    rows, next_cursor = cursors.split_page(
        (await session.exec(query.limit(limit + 1))).all(),
        limit,
        lambda row: (stored(row[0].decided_at), row[0].task_id),
    )
    items = []
    for task, project in rows:
        assert task.decided_at is not None
        assert task.document_number is not None
        items.append(
            PublicResult(
                project_name=project.name,
                project_code=project.project_code,
                department=task.department,
                issuing_department=catalogue.department(task.department).name
                if catalogue.has_department(task.department)
                else task.department,
                matter_code=task.matter_code,
                matter=task.matter_name,
                decision=task.decision or "",
                decided_date=task.decided_at.astimezone(CHINA_TZ).date(),
                document_number=task.document_number,
            )
        )
    return Page(items=items, next_cursor=next_cursor)


def departments(
    catalogue: Catalogue, *, limit: int, cursor: str | None, cursors: CursorCodec
) -> Page[DepartmentOut]:
    """The catalogue the service routes with, by department code."""
    position = cursors.decode(cursor, (str,))
    after = position[0] if position is not None else ""
    depts = sorted((d for d in catalogue.departments if d.code > after), key=lambda d: d.code)
    page, next_cursor = cursors.split_page(depts[: limit + 1], limit, lambda d: (d.code,))
    return Page(
        items=[
            DepartmentOut(
                code=d.code,
                name=d.name,
                name_zh=d.name_zh,
                matters=[
                    MatterOut(
                        matter_code=m.code,
                        name=m.name,
                        name_zh=m.name_zh,
                        legal_limit=m.legal_limit,
                        promised_limit=m.promised_limit,
                        day_kind=m.day_kind,
                        consultative=m.consultative,
                        estimated=m.estimated,
                    )
                    for m in catalogue.matters_of(d.code)
                ],
            )
            for d in page
        ],
        next_cursor=next_cursor,
    )


async def next_consultation_due(session: AsyncSession, *, after: datetime) -> datetime | None:
    """The earliest reply limit after `after` of a pending consultation (None: there is none):
    when the consultation sweep must next run."""
    due = (
        await session.exec(
            select(func.min(col(Task.reply_due_at)))
            .where(Task.status == TaskStatus.PENDING.value)
            .where(col(Task.consultative).is_(True))
            .where(col(Task.reply_due_at) > after)
        )
    ).one()
    return due


async def projects_in_flight(session: AsyncSession) -> dict[str, int]:
    """How many projects are in each open status (every open status, zeros included)."""
    rows = (
        await session.exec(
            select(Project.status, func.count())
            .where(col(Project.status).in_(sorted(OPEN_PROJECT_STATUSES)))
            .group_by(Project.status)
        )
    ).all()
    counts = {str(status): 0 for status in OPEN_PROJECT_STATUSES}
    counts.update({status: count for status, count in rows})
    return counts
