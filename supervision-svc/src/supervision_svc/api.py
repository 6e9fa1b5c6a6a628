"""HTTP routes of the supervision service: thin, they only scope, parse and format."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from shared.auth import CurrentPrincipal, Principal, Role, require_roles
from shared.pagination import DEFAULT_LIMIT, Cursor, CursorCodec, Cursors, Limit, Page
from shared.problems import field_error, not_found
from supervision_svc import queries
from supervision_svc.api_common import Runtime
from supervision_svc.schemas import AlertOut, Overview, Submissions

MAX_SUBMISSION_DAYS = 366

router = APIRouter(prefix="/api/v1")

StatsReader = Annotated[Principal, Depends(require_roles(Role.OPS, Role.DEPARTMENT))]


def alert_position(cursor: str | None, cursors: CursorCodec) -> queries.AlertPosition | None:
    """The position a `cursor` of the alert list stands for (InvalidCursor: 422 naming it)."""
    position = cursors.decode(cursor, (datetime, str))
    if position is None:
        return None
    raised_at, alert_id = position
    return queries.AlertPosition(raised_at=raised_at, alert_id=alert_id)


@router.get(
    "/stats/overview",
    response_model=Overview,
    tags=["stats"],
    summary="Projects by status, department workload and speed, open alerts by level",
)
async def stats_overview(principal: StatsReader, runtime: Runtime) -> Overview:
    async with runtime.sessions() as session:
        return await queries.overview(session, principal=principal, now=runtime.clock.now())


@router.get(
    "/stats/submissions",
    response_model=Submissions,
    tags=["stats"],
    summary="Projects submitted per day, by region or industry (days `from` to `to`)",
)
async def stats_submissions(
    _principal: StatsReader,
    runtime: Runtime,
    first: Annotated[date | None, Query(alias="from")] = None,
    last: Annotated[date | None, Query(alias="to")] = None,
    by: Literal["region", "industry"] = "region",
) -> Submissions:
    last = last or runtime.clock.now().date()
    first = first or last - timedelta(days=29)
    if first > last:
        raise field_error(["query", "from"], "must not be after `to`")
    if (last - first).days >= MAX_SUBMISSION_DAYS:
        raise field_error(["query", "from"], f"at most {MAX_SUBMISSION_DAYS} days at once")
    async with runtime.read_sessions() as session:
        items = await queries.submissions(session, dimension=by, first=first, last=last)
    return Submissions(items=items)


@router.get(
    "/alerts",
    response_model=Page[AlertOut],
    tags=["alerts"],
    summary="Alerts, newest first (ops: all; enterprise: its projects; department: its tasks)",
)
async def list_alerts(
    principal: CurrentPrincipal,
    runtime: Runtime,
    cursors: Cursors,
    project_code: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
    level: Literal["yellow", "red"] | None = None,
    kind: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    status: Annotated[
        Literal["open", "resolved"] | None, Query(description="open or resolved alerts only")
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[AlertOut]:
    filters = queries.AlertFilter(project_code=project_code, level=level, kind=kind, status=status)
    after = alert_position(cursor, cursors)
    async with runtime.sessions() as session:
        rows, next_cursor = await queries.list_alerts(
            session,
            principal=principal,
            filters=filters,
            limit=limit,
            after=after,
            cursors=cursors,
        )
        items = [AlertOut.of(a) for a in rows]
    return Page[AlertOut](items=items, next_cursor=next_cursor)


@router.get("/alerts/{alert_id}", response_model=AlertOut, tags=["alerts"], summary="One alert")
async def get_alert(
    alert_id: Annotated[str, Path(max_length=40)],
    principal: CurrentPrincipal,
    runtime: Runtime,
) -> AlertOut:
    async with runtime.sessions() as session:
        alert = await queries.get_alert(session, alert_id, principal=principal)
        if alert is None:
            raise not_found(f"alert {alert_id}")
        return AlertOut.of(alert)
