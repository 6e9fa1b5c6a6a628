"""HTTP routes of construction reports and the project supervision view."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from shared.auth import CurrentPrincipal, Principal, Role, require_roles
from shared.pagination import DEFAULT_LIMIT, Cursor, Cursors, Limit, Page
from shared.problems import not_found
from supervision_svc import handlers, queries_projects
from supervision_svc.api_common import Rules, Runtime, Timers, position, problem
from supervision_svc.domain.errors import SupervisionError
from supervision_svc.domain.reports import NewReport
from supervision_svc.metrics import REPORTS_RECEIVED
from supervision_svc.schemas import ReportIn, ReportOut, SupervisionView
from supervision_svc.unit_of_work import SqlUnitOfWork

router = APIRouter(prefix="/api/v1", tags=["reports"])

Enterprise = Annotated[Principal, Depends(require_roles(Role.ENTERPRISE))]
ProjectCode = Annotated[str, Path(min_length=1, max_length=32)]


@router.post(
    "/projects/{code}/reports",
    status_code=201,
    response_model=ReportOut,
    summary="File a construction report (the project's enterprise)",
)
async def file_report(
    code: ProjectCode,
    body: ReportIn,
    principal: Enterprise,
    runtime: Runtime,
    rules: Rules,
    timers: Timers,
) -> ReportOut:
    command = handlers.FileReport(
        project_code=code,
        credit_code=principal.credit_code or "",
        report=NewReport(
            kind=body.kind,
            report_date=body.report_date,
            progress_percent=body.progress_percent,
            invested_to_date=body.invested_to_date,
            note=body.note,
            planned_completion=body.planned_completion,
        ),
    )
    try:
        async with SqlUnitOfWork(runtime.uow()) as uow:
            report = await handlers.file_report(
                uow, command=command, now=runtime.clock.now(), rules=rules
            )
            uow.after_commit(timers.wake)  # the report may have moved a timer
            await uow.commit()
    except SupervisionError as exc:
        raise problem(exc) from exc
    REPORTS_RECEIVED.labels(report.kind).inc()
    return ReportOut.of(report)


@router.get(
    "/projects/{code}/reports",
    response_model=Page[ReportOut],
    summary="A project's construction reports, oldest first",
)
async def list_reports(
    code: ProjectCode,
    principal: CurrentPrincipal,
    runtime: Runtime,
    cursors: Cursors,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[ReportOut]:
    after = position(cursor, cursors)
    async with runtime.read_sessions() as session:
        if await queries_projects.visible_project(session, code, principal=principal) is None:
            raise not_found(f"project {code}")
        rows, next_cursor = await queries_projects.list_reports(
            session, code, limit=limit, after=after, cursors=cursors
        )
        return Page[ReportOut](items=[ReportOut.of(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/projects/{code}/supervision",
    response_model=SupervisionView,
    tags=["alerts"],
    summary="Traffic light, open alerts, last report, expected against reported progress",
)
async def project_supervision(
    code: ProjectCode, principal: CurrentPrincipal, runtime: Runtime, rules: Rules
) -> SupervisionView:
    async with runtime.read_sessions() as session:
        project = await queries_projects.visible_project(session, code, principal=principal)
        if project is None:
            raise not_found(f"project {code}")
        return await queries_projects.supervision_view(
            session, project, now=runtime.clock.now(), rules=rules
        )
