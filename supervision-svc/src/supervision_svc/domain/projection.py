"""Rules for keeping a projection of approval-svc's projects and tasks.

Events of one project share a key and so arrive in order, but a redelivery after a rebalance,
or a project snapshot carried inside a later event, can bring older state. A row only moves
forward: an event older than the one it was built from is ignored, and a final status is
never left again.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

PROJECT_FINAL_STATUSES: frozenset[str] = frozenset({"approved", "rejected", "filed", "withdrawn"})
TASK_FINAL_STATUSES: frozenset[str] = frozenset({"approved", "rejected", "withdrawn"})
DECIDED_TASK_STATUSES: frozenset[str] = frozenset({"approved", "rejected"})
PROJECT_STATUSES: tuple[str, ...] = (
    "submitted",
    "in_review",
    "supplement_required",
    "approved",
    "rejected",
    "filed",
    "withdrawn",
)
YELLOW_RATIO = 0.9


def supersedes(
    *,
    current_status: str | None,
    current_version: datetime | None,
    incoming_status: str,
    incoming_version: datetime,
    final_statuses: Collection[str],
) -> bool:
    """Whether incoming state should replace the stored one.

    * nothing stored yet: yes;
    * the stored status is final: never (a final status is not left again);
    * the incoming status is final: yes (whatever the timestamps say);
    * otherwise the newer (or equally new) event wins.
    """
    if current_status is None or current_version is None:
        return True
    if current_status in final_statuses:
        return False
    if incoming_status in final_statuses:
        return True
    return incoming_version >= current_version


def project_supersedes(
    *,
    current_status: str | None,
    current_version: datetime | None,
    incoming_status: str,
    incoming_version: datetime,
) -> bool:
    return supersedes(
        current_status=current_status,
        current_version=current_version,
        incoming_status=incoming_status,
        incoming_version=incoming_version,
        final_statuses=PROJECT_FINAL_STATUSES,
    )


def task_supersedes(
    *,
    current_status: str | None,
    current_version: datetime | None,
    incoming_status: str,
    incoming_version: datetime,
) -> bool:
    return supersedes(
        current_status=current_status,
        current_version=current_version,
        incoming_status=incoming_status,
        incoming_version=incoming_version,
        final_statuses=TASK_FINAL_STATUSES,
    )


def yellow_threshold(
    assigned_at: datetime, due_at: datetime, ratio: float = YELLOW_RATIO
) -> datetime:
    """The instant at which `ratio` of the time between assignment and due date has elapsed."""
    span = due_at - assigned_at
    if span <= timedelta(0):
        return due_at
    return assigned_at + span * ratio


def decision_seconds(
    *, status: str, assigned_at: datetime, decided_at: datetime | None
) -> float | None:
    """Time from assignment to a final decision (approved or rejected), else None."""
    if status not in DECIDED_TASK_STATUSES or decided_at is None:
        return None
    return max((decided_at - assigned_at).total_seconds(), 0.0)


def mean_hours(total_seconds: float | None, count: int) -> float | None:
    """Mean of `count` durations summing to `total_seconds`, in hours (2 decimals)."""
    if not count or total_seconds is None:
        return None
    return round(total_seconds / count / 3600.0, 2)
