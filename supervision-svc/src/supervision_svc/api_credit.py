"""HTTP routes of enterprise credit: the record, corrections by ops, the public dishonest list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from shared.auth import CurrentPrincipal, Principal, Role, require_roles
from shared.pagination import DEFAULT_LIMIT, Cursor, Cursors, Limit, Page
from shared.problems import not_found
from supervision_svc import handlers, queries_projects
from supervision_svc.api_common import Rules, Runtime, Timers, position, problem
from supervision_svc.domain.errors import SupervisionError
from supervision_svc.schemas import CorrectionIn, CreditOut, DishonestEntry
from supervision_svc.unit_of_work import SqlUnitOfWork

router = APIRouter(prefix="/api/v1", tags=["credit"])

Ops = Annotated[Principal, Depends(require_roles(Role.OPS))]
CreditCode = Annotated[str, Path(min_length=1, max_length=18)]


@router.get(
    "/enterprises/{credit_code}/credit",
    response_model=CreditOut,
    summary="An enterprise's credit status and records (ops, departments, the enterprise)",
)
async def get_credit(
    credit_code: CreditCode, principal: CurrentPrincipal, runtime: Runtime
) -> CreditOut:
    if not queries_projects.may_read_credit(principal, credit_code):
        raise not_found(f"enterprise {credit_code}")
    async with runtime.read_sessions() as session:
        return await queries_projects.credit_of(session, credit_code)


@router.post(
    "/enterprises/{credit_code}/credit/records/{record_id}/correct",
    response_model=CreditOut,
    summary="Mark a credit record corrected, with a reason (ops; audited)",
)
async def correct_record(
    credit_code: CreditCode,
    record_id: Annotated[str, Path(min_length=1, max_length=40)],
    body: CorrectionIn,
    principal: Ops,
    runtime: Runtime,
    rules: Rules,
    timers: Timers,
) -> CreditOut:
    try:
        async with SqlUnitOfWork(runtime.uow()) as uow:
            await handlers.correct_record(
                uow,
                credit_code=credit_code,
                record_id=record_id,
                reason=body.reason,
                actor=principal.sub,
                now=runtime.clock.now(),
                rules=rules,
            )
            uow.after_commit(timers.wake)
            await uow.commit()
    except SupervisionError as exc:
        raise problem(exc) from exc
    async with runtime.sessions() as session:
        return await queries_projects.credit_of(session, credit_code)


@router.get(
    "/public/credit/dishonest",
    response_model=Page[DishonestEntry],
    summary="Enterprises on the dishonest list (public, no token)",
)
async def dishonest_list(
    runtime: Runtime, cursors: Cursors, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Page[DishonestEntry]:
    after = position(cursor, cursors)
    async with runtime.read_sessions() as session:
        items, next_cursor = await queries_projects.dishonest(
            session, limit=limit, after=after, cursors=cursors
        )
    return Page[DishonestEntry](items=items, next_cursor=next_cursor)
