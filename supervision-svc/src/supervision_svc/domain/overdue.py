"""Electronic supervision of approvers: yellow card at 90 % of a task's time limit, red past it.

One task has at most one open `approval_overdue` alert: red supersedes yellow, and both are
resolved once the task stops waiting on the department (decided, withdrawn or sent back to the
enterprise for supplements).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from supervision_svc.domain.alerts import LEVELS, Level
from supervision_svc.domain.projection import YELLOW_RATIO, yellow_threshold


def overdue_level(
    *, assigned_at: datetime, due_at: datetime, now: datetime, ratio: float = YELLOW_RATIO
) -> Level | None:
    """Red once `now` is past `due_at`; yellow once `ratio` of the limit has elapsed."""
    if now > due_at:
        return "red"
    if now >= yellow_threshold(assigned_at, due_at, ratio):
        return "yellow"
    return None


@dataclass(frozen=True, slots=True)
class AlertPlan:
    """What to do with one task's alerts now."""

    raise_level: Level | None = None
    resolve_levels: tuple[Level, ...] = ()


def plan_task_alerts(
    *,
    status: str,
    assigned_at: datetime,
    due_at: datetime,
    now: datetime,
    open_levels: Collection[str],
) -> AlertPlan:
    """Raise the level the task is at (unless it is already open); resolve any other open one.

    Only a `pending` task is waiting on its department; any other status resolves everything.
    """
    target = (
        overdue_level(assigned_at=assigned_at, due_at=due_at, now=now)
        if status == "pending"
        else None
    )
    resolve = tuple(level for level in LEVELS if level in open_levels and level != target)
    raise_level = target if target is not None and target not in open_levels else None
    return AlertPlan(raise_level=raise_level, resolve_levels=resolve)


def overdue_detail(
    *,
    level: Level,
    department: str,
    matter_name: str,
    task_id: str,
    assigned_at: datetime,
    due_at: datetime,
    now: datetime,
) -> str:
    """A sentence for people: which task, how far into its limit, when it is due."""
    due = due_at.strftime("%Y-%m-%d %H:%M UTC")
    subject = f"{department} task {task_id} ({matter_name})"
    if level == "red":
        late_days = (now - due_at).total_seconds() / 86_400
        return f"{subject} is past its time limit: due {due}, {late_days:.1f} days late"
    span = (due_at - assigned_at).total_seconds()
    used = (now - assigned_at).total_seconds() / span * 100 if span > 0 else 100.0
    return f"{subject} has used {used:.0f}% of its time limit: due {due}"
