"""Electronic supervision of approvers: yellow card at 90 % of a task's time limit, red past it.

One task has at most one open `approval_overdue` alert: it is raised yellow, escalated to red
(same alert), and resolved once the task stops waiting on the department (decided, withdrawn
or sent back to the enterprise for supplements).
"""

from __future__ import annotations

from datetime import datetime

from supervision_svc.domain.alerts import Level
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


def task_level(
    *,
    status: str,
    assigned_at: datetime,
    due_at: datetime,
    now: datetime,
    ratio: float = YELLOW_RATIO,
) -> Level | None:
    """The level a task's alert should show: only a `pending` task waits on its department."""
    if status != "pending":
        return None
    return overdue_level(assigned_at=assigned_at, due_at=due_at, now=now, ratio=ratio)


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
