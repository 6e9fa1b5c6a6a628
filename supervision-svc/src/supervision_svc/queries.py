"""Reads of the supervision service: statistics and alerts, scoped by the caller.

Ops sees the whole platform; a department the figures and alerts of its own tasks (and the
projects it has tasks in); an enterprise the alerts of its own projects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, or_, union_all
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from shared.auth import Principal, Role
from shared.pagination import CursorCodec
from shared.topics import DEPARTMENT_CODES
from supervision_svc.domain.alerts import APPROVAL_OVERDUE, KINDS, LEVELS
from supervision_svc.domain.projection import PROJECT_STATUSES, mean_hours
from supervision_svc.metrics import ALERTS_OPEN, TASKS_OVERDUE
from supervision_svc.models import Alert, ProjectView, StatCounter, StatSubmission
from supervision_svc.schemas import DepartmentStats, Overview, SubmissionCount
from supervision_svc.stats_repository import PLATFORM

# --- the overview (from the counters kept by the handlers) ------------------------------------


async def _counters(session: AsyncSession, scopes: Sequence[str] | None) -> list[StatCounter]:
    """Counter rows of these scopes (None: all of them, a few per department)."""
    query = select(StatCounter)
    if scopes is not None:
        query = query.where(col(StatCounter.scope).in_(list(scopes)))
    return list((await session.exec(query)).all())


def _department_stats(counters: dict[tuple[str, str], float]) -> DepartmentStats:
    decided = int(counters.get(("tasks", "decided"), 0))
    on_time = int(counters.get(("tasks", "on_time"), 0))
    return DepartmentStats(
        pending=int(counters.get(("tasks", "pending"), 0)),
        overdue=int(counters.get(("alerts_open", f"{APPROVAL_OVERDUE}:red"), 0)),
        decided=decided,
        awaiting_supplement=int(counters.get(("tasks", "supplement_required"), 0)),
        mean_decision_hours=mean_hours(counters.get(("decision_seconds", "sum")), decided),
        on_time_rate=round(on_time / decided, 4) if decided else None,
    )


async def overview(session: AsyncSession, *, principal: Principal, now: datetime) -> Overview:
    """Projects by status, department workload and speed, open alerts by level and kind.

    Reads the counter rows of the platform (or of the caller's department) and nothing else:
    its cost does not grow with the number of projects.
    """
    department = principal.department if principal.role is Role.DEPARTMENT else None
    scope = department or PLATFORM
    by_scope: dict[str, dict[tuple[str, str], float]] = {}
    for row in await _counters(session, [department] if department is not None else None):
        by_scope.setdefault(row.scope, {})[(row.metric, row.key)] = row.value
    departments = (
        [department]
        if department is not None
        else [*DEPARTMENT_CODES, *sorted(set(by_scope) - {PLATFORM, *DEPARTMENT_CODES})]
    )
    mine = by_scope.get(scope, {})
    by_status = dict.fromkeys(PROJECT_STATUSES, 0)
    by_level: dict[str, int] = dict.fromkeys(LEVELS, 0)
    by_kind: dict[str, int] = dict.fromkeys(KINDS, 0)
    for (metric, key), value in mine.items():
        if metric == "project_status" and value:
            by_status[key] = by_status.get(key, 0) + int(value)
        elif metric == "alerts_open" and value:
            kind, _, level = key.rpartition(":")
            by_level[level] = by_level.get(level, 0) + int(value)
            by_kind[kind] = by_kind.get(kind, 0) + int(value)
    return Overview(
        as_of=now,
        projects_total=sum(by_status.values()),
        projects_by_status=by_status,
        by_department={d: _department_stats(by_scope.get(d, {})) for d in departments},
        alerts_by_level=by_level,
        alerts_by_kind=by_kind,
    )


async def submissions(
    session: AsyncSession, *, dimension: str, first: date, last: date
) -> list[SubmissionCount]:
    """Projects submitted per day and region (or industry), days `first` to `last`.

    Plain columns, not ORM objects: a year by region is tens of thousands of rows, and
    building an instance per row cost ten times the query."""
    rows = await session.exec(
        select(col(StatSubmission.day), col(StatSubmission.key), col(StatSubmission.count))
        .where(col(StatSubmission.dimension) == dimension)
        .where(col(StatSubmission.day) >= first, col(StatSubmission.day) <= last)
        .order_by(col(StatSubmission.day), col(StatSubmission.key))
    )
    return [SubmissionCount(day=day, key=key, count=count) for day, key, count in rows.all()]


async def refresh_gauges(session: AsyncSession) -> None:
    """Open alerts and overdue tasks gauges, from the counters (cheap: a few dozen rows)."""
    rows = await session.exec(select(StatCounter).where(col(StatCounter.metric) == "alerts_open"))
    for row in rows.all():
        kind, _, level = row.key.rpartition(":")
        if row.scope == PLATFORM:
            ALERTS_OPEN.labels(kind, level).set(row.value)
        elif row.key == f"{APPROVAL_OVERDUE}:red":
            TASKS_OVERDUE.labels(row.scope).set(row.value)


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


def _newest_first(
    query: SelectOfScalar[Alert], limit: int, alert: type[Alert] = Alert
) -> SelectOfScalar[Alert]:
    return query.order_by(col(alert.raised_at).desc(), col(alert.alert_id).desc()).limit(limit)


async def list_alerts(
    session: AsyncSession,
    *,
    principal: Principal,
    filters: AlertFilter,
    limit: int,
    after: AlertPosition | None,
    cursors: CursorCodec,
) -> tuple[list[Alert], str | None]:
    """One page of alerts, newest first; the cursor is the last one's (raised_at, alert_id)."""
    query = select(Alert)
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
            # The bound alone lets the database start at the cursor in the index instead of
            # reading (and dropping) every newer alert; the OR then decides the ties.
            col(Alert.raised_at) <= after.raised_at,
            or_(
                col(Alert.raised_at) < after.raised_at,
                and_(col(Alert.raised_at) == after.raised_at, col(Alert.alert_id) < after.alert_id),
            ),
        )
    if principal.role is Role.ENTERPRISE and filters.project_code is not None:
        # One project's alerts (a few): shown if the project is the enterprise's.
        own = select(ProjectView.project_code).where(
            col(ProjectView.project_code) == filters.project_code,
            col(ProjectView.credit_code) == principal.credit_code,
        )
        page = _newest_first(query.where(col(Alert.project_code).in_(own)), limit + 1)
    elif principal.role is Role.ENTERPRISE:
        page = _enterprise_page(query, principal.credit_code, limit + 1)
    else:
        page = _newest_first(visible_to(query, principal), limit + 1)
    return cursors.split_page(
        (await session.exec(page)).all(),
        limit,
        lambda alert: (alert.raised_at, alert.alert_id),
    )


def _enterprise_page(
    query: SelectOfScalar[Alert], credit_code: str | None, limit: int
) -> SelectOfScalar[Alert]:
    """The alerts of the enterprise's projects (what `visible_to` selects), newest first.

    An alert carries the credit code of its project, copied when it was raised; one raised
    while the project was not yet known carries none and is found through the project. Both
    halves are read in index order (ix_alerts_credit_raised) and merged by the database,
    instead of every alert of every project of the enterprise being fetched and sorted.
    """
    own = select(ProjectView.project_code).where(col(ProjectView.credit_code) == credit_code)
    tagged = _newest_first(query.where(col(Alert.credit_code) == credit_code), limit)
    untagged = _newest_first(
        query.where(col(Alert.credit_code).is_(None), col(Alert.project_code).in_(own)), limit
    )
    both = union_all(sa_select(tagged.subquery()), sa_select(untagged.subquery())).subquery()
    alert = aliased(Alert, both)
    return _newest_first(select(alert), limit, alert)


async def get_alert(session: AsyncSession, alert_id: str, *, principal: Principal) -> Alert | None:
    query = visible_to(select(Alert).where(col(Alert.alert_id) == alert_id), principal)
    return (await session.exec(query)).first()
