"""Reads about one project or one enterprise: reports, the supervision view, credit.

Who may read: the project's enterprise, ops, and a department with a task in the project
(credit: the enterprise itself, ops and departments). Anyone else gets None (the API: 404).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.auth import Principal, Role
from shared.pagination import CursorCodec
from supervision_svc.domain.alerts import LEVELS
from supervision_svc.domain.construction import evaluate
from supervision_svc.domain.thresholds import Thresholds
from supervision_svc.handlers.construction import construction_state
from supervision_svc.models import Alert, CreditRecord, CreditState, ProjectView, Report, TaskView
from supervision_svc.schemas import (
    AlertOut,
    CreditOut,
    CreditRecordOut,
    DishonestEntry,
    ReportOut,
    SupervisionView,
)


async def visible_project(
    session: AsyncSession, code: str, *, principal: Principal
) -> ProjectView | None:
    project = await session.get(ProjectView, code)
    if project is None:
        return None
    if principal.role is Role.OPS:
        return project
    if principal.role is Role.ENTERPRISE:
        return project if project.credit_code == principal.credit_code else None
    has_task = await session.exec(
        select(TaskView.task_id)
        .where(col(TaskView.project_code) == code)
        .where(col(TaskView.department) == principal.department)
        .limit(1)
    )
    return project if has_task.first() is not None else None


async def list_reports(
    session: AsyncSession,
    code: str,
    *,
    limit: int,
    after: tuple[datetime, str] | None,
    cursors: CursorCodec,
) -> tuple[list[Report], str | None]:
    """A project's reports, oldest first; the cursor is the last one's (filed_at, id)."""
    query = select(Report).where(col(Report.project_code) == code)
    if after is not None:
        at, report_id = after
        query = query.where(
            (col(Report.filed_at) > at)
            | ((col(Report.filed_at) == at) & (col(Report.report_id) > report_id))
        )
    query = query.order_by(col(Report.filed_at), col(Report.report_id)).limit(limit + 1)
    return cursors.split_page(
        (await session.exec(query)).all(), limit, lambda r: (r.filed_at, r.report_id)
    )


async def supervision_view(
    session: AsyncSession, project: ProjectView, *, now: datetime, rules: Thresholds
) -> SupervisionView:
    alerts = (
        await session.exec(
            select(Alert)
            .where(col(Alert.project_code) == project.project_code)
            .where(col(Alert.resolved_at).is_(None))
            .order_by(col(Alert.raised_at), col(Alert.alert_id))
        )
    ).all()
    last = (
        await session.exec(
            select(Report)
            .where(col(Report.project_code) == project.project_code)
            .order_by(col(Report.filed_at).desc(), col(Report.report_id).desc())
            .limit(1)
        )
    ).first()
    levels = {a.level for a in alerts}
    light = next((lvl for lvl in reversed(LEVELS) if lvl in levels), "green")
    evaluation = evaluate(construction_state(project), now=now, thresholds=rules)
    return SupervisionView(
        project_code=project.project_code,
        light=light,
        open_alerts=[AlertOut.of(a) for a in alerts],
        last_report=ReportOut.of(last) if last is not None else None,
        expected_progress_percent=evaluation.expected_progress,
        reported_progress_percent=project.reported_progress,
    )


def may_read_credit(principal: Principal, credit_code: str) -> bool:
    if principal.role is Role.ENTERPRISE:
        return principal.credit_code == credit_code
    return True  # ops and departments


async def credit_of(session: AsyncSession, credit_code: str) -> CreditOut:
    state = await session.get(CreditState, credit_code)
    records = (
        await session.exec(
            select(CreditRecord)
            .where(col(CreditRecord.credit_code) == credit_code)
            .order_by(col(CreditRecord.created_at), col(CreditRecord.record_id))
        )
    ).all()
    return CreditOut(
        credit_code=credit_code,
        status=state.status if state is not None else "normal",
        records=[CreditRecordOut.of(r) for r in records],
    )


async def dishonest(
    session: AsyncSession,
    *,
    limit: int,
    after: tuple[datetime, str] | None,
    cursors: CursorCodec,
) -> tuple[list[DishonestEntry], str | None]:
    """Enterprises on the dishonest list, longest-listed first."""
    query = select(CreditState).where(col(CreditState.status) == "dishonest")
    if after is not None:
        since, code = after
        query = query.where(
            (col(CreditState.since) > since)
            | ((col(CreditState.since) == since) & (col(CreditState.credit_code) > code))
        )
    query = query.order_by(col(CreditState.since), col(CreditState.credit_code)).limit(limit + 1)
    rows, cursor = cursors.split_page(
        (await session.exec(query)).all(), limit, lambda s: (s.since, s.credit_code)
    )
    return [DishonestEntry(credit_code=r.credit_code, since=r.since) for r in rows], cursor
