"""Thin HTTP routes of the approval service: scope by the caller, parse, call a handler or a
query, and map domain errors to problem+json."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request
from fastapi.responses import JSONResponse

from approval_svc import handlers, queries
from approval_svc.domain.catalogue import Catalogue
from approval_svc.domain.commands import (
    Actor,
    IdempotencyKey,
    ProvideSupplement,
    SubmitProject,
    WithdrawProject,
)
from approval_svc.domain.errors import (
    Conflict,
    DishonestEnterprise,
    DomainError,
    Forbidden,
    IdempotencyKeyReused,
    InvalidIdentifier,
    NotFound,
)
from approval_svc.domain.identifiers import is_project_code, validate_credit_code
from approval_svc.domain.workdays import WorkCalendar
from approval_svc.schemas import (
    DecisionIn,
    DepartmentOut,
    ProjectIn,
    PublicResult,
    SupplementIn,
    TimelineItem,
)
from approval_svc.submissions import SubmissionGroups
from approval_svc.unit_of_work import SqlUnitOfWork
from shared.auth import (
    CurrentPrincipal,
    DepartmentPrincipal,
    EnterprisePrincipal,
    Principal,
    Role,
)
from shared.clock import Clock
from shared.events import ProjectData, TaskData
from shared.jsontext import FastJSONResponse
from shared.pagination import DEFAULT_LIMIT, Cursor, Cursors, Limit, Page
from shared.problems import ProblemError, field_error, not_found, problem_response
from shared.runtime import ServiceRuntime

ProjectStatusQ = Literal[
    "submitted", "in_review", "supplement_required", "approved", "rejected", "filed", "withdrawn"
]
TaskStatusQ = Literal["pending", "supplement_required", "approved", "rejected", "withdrawn"]


@dataclass(frozen=True)
class Deps:
    runtime: ServiceRuntime
    catalogue: Catalogue
    calendar: WorkCalendar
    submissions: SubmissionGroups

    @property
    def clock(self) -> Clock:
        return self.runtime.clock


# async although it awaits nothing: FastAPI runs a plain function dependency in a worker
# thread, a thread hop on every request.
async def get_deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


AppDeps = Annotated[Deps, Depends(get_deps)]


async def project_code_param(code: Annotated[str, Path(max_length=32)]) -> str:
    # Both the current and the legacy format may be looked up.
    if not is_project_code(code):
        raise field_error(
            ["path", "code"],
            "not a project code (YYMM-RRRRRR-DD-TT-NNNNNC, or legacy YYYY-RRRRRR-II-TT-NNNNNN)",
        )
    return code


ProjectCode = Annotated[str, Depends(project_code_param)]
TaskId = Annotated[str, Path(max_length=40)]
router = APIRouter(prefix="/api/v1")


def actor(principal: Principal) -> Actor:
    return Actor(principal.sub, principal.role.value)


def enterprise_credit_code(principal: Principal) -> str:
    """The submitting enterprise is the one in the token, never one named in the body."""
    try:
        return validate_credit_code(principal.credit_code or "")
    except InvalidIdentifier as exc:
        raise ProblemError(
            status=403, title="Forbidden", detail=f"token claim credit_code: {exc.message}"
        ) from None


def domain_problem(exc: DomainError) -> ProblemError:
    if isinstance(exc, IdempotencyKeyReused):
        return ProblemError(
            status=422,
            title="Idempotency Key Reused",
            detail=exc.message,
            errors=[{"loc": ["header", "Idempotency-Key"], "msg": "reused with another body"}],
        )
    if isinstance(exc, DishonestEnterprise):
        return ProblemError(
            status=403,
            title="Dishonest Enterprise",
            # The title makes the type: ".../problems/dishonest-enterprise".
            detail=exc.message,
        )
    if isinstance(exc, Forbidden):
        return ProblemError(status=403, title="Forbidden", detail=exc.message)
    loc = ["body", exc.field] if exc.field and exc.field != "task_id" else ["path", "task_id"]
    if isinstance(exc, NotFound):
        return not_found(exc.message.removesuffix(" not found"))
    if isinstance(exc, Conflict):
        return ProblemError(status=409, title="Conflict", detail=exc.message)
    return ProblemError(
        status=422,
        title="Validation Error",
        detail=f"{'.'.join(loc)}: {exc.message}",
        errors=[{"loc": loc, "msg": exc.message}],
    )


@router.post("/projects", status_code=201, response_model=ProjectData, tags=["projects"])
async def submit_project(
    body: ProjectIn,
    principal: EnterprisePrincipal,
    deps: AppDeps,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)
    ] = None,
) -> FastJSONResponse:
    """Submit a project: a code is assigned and every required department gets its task."""
    command = SubmitProject(
        credit_code=enterprise_credit_code(principal),
        name=body.name,
        region_code=body.region_code,
        industry_code=body.industry_code,
        procedure=body.procedure,
        total_investment=body.total_investment,
        location=body.location,
        planned_start=body.planned_start,
        description=body.description,
        facts=body.facts(),
        details=body.details(),
        actor=actor(principal),
        idempotency=IdempotencyKey(idempotency_key, body.fingerprint())
        if idempotency_key
        else None,
    )
    # Committed together with the submissions that arrive at the same time (group commit).
    submitted = await deps.submissions.submit(command)
    headers = {"Location": f"/api/v1/projects/{submitted.project['project_code']}"}
    if not submitted.created:
        headers["Idempotent-Replayed"] = "true"
    return FastJSONResponse(submitted.project, status_code=201, headers=headers)


@router.get("/projects", response_model=Page[ProjectData], tags=["projects"])
async def list_projects(
    principal: CurrentPrincipal,
    deps: AppDeps,
    cursors: Cursors,
    status: ProjectStatusQ | None = None,
    region_code: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    procedure: Literal["approval", "verification", "filing"] | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[ProjectData]:
    async with deps.runtime.read_sessions() as session:
        return await queries.list_projects(
            session,
            principal,
            status=status,
            region_code=region_code,
            procedure=procedure,
            limit=limit,
            cursor=cursor,
            cursors=cursors,
        )


@router.get("/projects/{code}", response_model=ProjectData, tags=["projects"])
async def get_project(code: ProjectCode, principal: CurrentPrincipal, deps: AppDeps) -> Any:
    async with deps.runtime.read_sessions() as session:
        return await queries.get_project(session, code, principal)


@router.get("/projects/{code}/timeline", response_model=Page[TimelineItem], tags=["projects"])
async def project_timeline(
    code: ProjectCode,
    principal: CurrentPrincipal,
    deps: AppDeps,
    cursors: Cursors,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[TimelineItem]:
    """Every step of the project in order: who did what, when (the audit trail)."""
    async with deps.runtime.read_sessions() as session:
        return await queries.timeline(
            session, code, principal, limit=limit, cursor=cursor, cursors=cursors
        )


@router.post("/projects/{code}/withdraw", response_model=ProjectData, tags=["projects"])
async def withdraw_project(code: ProjectCode, principal: EnterprisePrincipal, deps: AppDeps) -> Any:
    command = WithdrawProject(
        project_code=code, credit_code=principal.credit_code, actor=actor(principal)
    )
    async with deps.runtime.uow() as outbox:
        return await handlers.withdraw_project(
            command=command, uow=SqlUnitOfWork(outbox), clock=deps.clock
        )


@router.get("/departments", response_model=Page[DepartmentOut], tags=["departments"])
async def list_departments(
    _: CurrentPrincipal,
    deps: AppDeps,
    cursors: Cursors,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[DepartmentOut]:
    """The catalogue: departments, their matters and time limits (in days of `day_kind`)."""
    return queries.departments(deps.catalogue, limit=limit, cursor=cursor, cursors=cursors)


@router.get("/departments/{dept}/tasks", response_model=Page[TaskData], tags=["departments"])
async def department_tasks(
    dept: Annotated[str, Path(max_length=16)],
    principal: CurrentPrincipal,
    deps: AppDeps,
    cursors: Cursors,
    status: TaskStatusQ | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[TaskData]:
    if principal.role is Role.ENTERPRISE:
        raise ProblemError(status=403, title="Forbidden", detail="departments' task lists only")
    if principal.role is Role.DEPARTMENT and principal.department != dept:
        raise not_found(f"department {dept}")
    if not deps.catalogue.has_department(dept):
        raise not_found(f"department {dept}")
    async with deps.runtime.read_sessions() as session:
        return await queries.department_tasks(
            session, dept, status=status, limit=limit, cursor=cursor, cursors=cursors
        )


@router.post("/tasks/{task_id}/decision", response_model=TaskData, tags=["tasks"])
async def decide(
    task_id: TaskId, body: DecisionIn, principal: DepartmentPrincipal, deps: AppDeps
) -> TaskData:
    """A department decides its pending task; `supplement_required` lists every missing item."""
    command = body.command(
        task_id=task_id, department=principal.department or "", actor=actor(principal)
    )
    async with deps.runtime.uow() as outbox:
        return await handlers.decide_task(
            command=command, uow=SqlUnitOfWork(outbox), clock=deps.clock
        )


@router.post("/tasks/{task_id}/supplement", response_model=TaskData, tags=["tasks"])
async def supplement(
    task_id: TaskId, body: SupplementIn, principal: EnterprisePrincipal, deps: AppDeps
) -> TaskData:
    """The enterprise supplies the missing materials; the task's clock resumes."""
    command = ProvideSupplement(
        task_id=task_id,
        credit_code=principal.credit_code,
        materials=tuple(body.materials),
        actor=actor(principal),
    )
    async with deps.runtime.uow() as outbox:
        return await handlers.provide_supplement(
            command=command, uow=SqlUnitOfWork(outbox), clock=deps.clock, calendar=deps.calendar
        )


@router.get("/public/results", response_model=Page[PublicResult], tags=["public"])
async def disclosed_results(
    deps: AppDeps,
    cursors: Cursors,
    project_code: Annotated[str | None, Query(max_length=32)] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[PublicResult]:
    """Decisions disclosed to the public (no token needed)."""
    if project_code is not None and not is_project_code(project_code):
        raise field_error(["query", "project_code"], "not a project code")
    async with deps.runtime.read_sessions() as session:
        return await queries.public_results(
            session,
            deps.catalogue,
            project_code=project_code,
            limit=limit,
            cursor=cursor,
            cursors=cursors,
        )


def install(app: FastAPI) -> None:
    app.include_router(router)

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        return problem_response(domain_problem(exc))
