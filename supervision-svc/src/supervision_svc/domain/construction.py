"""Construction rules: is the project built as declared? (pure; evaluated on the platform clock)

* `started_before_approval`: a start report while a required approval is not granted: red at
  once; resolved when the project is approved.
* `start_overdue`: approved or filed, and the planned start month has passed without a start
  report: yellow; `start_red_after_days` later: red. Resolved by a start report (or when the
  project is rejected or withdrawn).
* `progress_missing`: started, not completed, and no report for `progress_missing_yellow_days`
  after the last report (the start report counts): yellow; `..._red_days`: red.
* `progress_behind`: reported progress behind the linear plan from the actual start to the
  planned completion by `behind_yellow_points` or more: yellow; more than `behind_red_points`:
  red. Resolved by a report that catches up (or by completion).

A filed project that never reports anything is caught by `start_overdue` (no project escapes:
its planned start, or with none its filing date, starts the clock). Each evaluation also says
when the earliest level change can happen by time alone (`next_check_at`), so the scheduler
sleeps until then instead of polling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from supervision_svc.domain.alerts import (
    PROGRESS_BEHIND,
    PROGRESS_MISSING,
    START_OVERDUE,
    STARTED_BEFORE_APPROVAL,
    Level,
    earliest,
)
from supervision_svc.domain.thresholds import DEFAULT_THRESHOLDS, Thresholds

CLEARED_STATUSES = frozenset({"approved", "filed"})  # every required approval is granted
ENDED_STATUSES = frozenset({"rejected", "withdrawn"})  # nothing is to be built
IN_APPROVAL_STATUSES = frozenset({"submitted", "in_review", "supplement_required"})


def day_start(day: date) -> datetime:
    """The first instant (UTC) of a calendar day: report dates count from there."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def month_after(day: date) -> datetime:
    """The first instant of the month after `day`'s: when `day`'s month has passed."""
    first = day.replace(day=1) + timedelta(days=32)
    return day_start(first.replace(day=1))


@dataclass(frozen=True, slots=True)
class ConstructionState:
    """What the rules need to know about one project (kept on its supervision row)."""

    status: str
    planned_start: date | None = None
    cleared_at: datetime | None = None  # when approved or filed
    started_on: date | None = None
    last_report_on: date | None = None
    reported_progress: Decimal | None = None
    planned_completion: date | None = None
    completed: bool = False
    started_before_approval: bool = False


@dataclass(frozen=True, slots=True)
class Finding:
    level: Level | None
    detail: str = ""
    next_change_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Evaluation:
    findings: dict[str, Finding] = field(default_factory=dict)
    next_check_at: datetime | None = None
    expected_progress: float | None = None


def evaluate(
    state: ConstructionState, *, now: datetime, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> Evaluation:
    """The level of every construction rule for this project now, and the next time to look."""
    findings = {
        STARTED_BEFORE_APPROVAL: started_before_approval(state),
        START_OVERDUE: start_overdue(state, now=now, thresholds=thresholds),
        PROGRESS_MISSING: progress_missing(state, now=now, thresholds=thresholds),
        PROGRESS_BEHIND: progress_behind(state, now=now, thresholds=thresholds),
    }
    return Evaluation(
        findings=findings,
        next_check_at=earliest(*(f.next_change_at for f in findings.values())),
        expected_progress=_rounded(expected_progress(state, now=now)),
    )


def _rounded(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


def started_before_approval(state: ConstructionState) -> Finding:
    if state.started_before_approval and state.status not in CLEARED_STATUSES:
        return Finding(
            "red",
            f"construction started on {state.started_on} while the project is "
            f"{state.status}: a required approval was not granted",
        )
    return Finding(None)


def start_overdue(state: ConstructionState, *, now: datetime, thresholds: Thresholds) -> Finding:
    if (
        state.status not in CLEARED_STATUSES
        or state.started_on is not None
        or state.completed
        or (state.planned_start is None and state.cleared_at is None)
    ):
        return Finding(None)
    if state.planned_start is not None:
        yellow_at = month_after(state.planned_start)
        why = f"planned start {state.planned_start:%Y-%m} has passed without a start report"
    else:
        assert state.cleared_at is not None  # checked above; narrows the type
        yellow_at = state.cleared_at + timedelta(days=thresholds.start_grace_days)
        why = f"no start report {thresholds.start_grace_days} days after {state.status}"
    red_at = yellow_at + timedelta(days=thresholds.start_red_after_days)
    if now >= red_at:
        return Finding("red", f"{why} (over {thresholds.start_red_after_days} days)")
    if now >= yellow_at:
        return Finding("yellow", why, red_at)
    return Finding(None, next_change_at=yellow_at)


def progress_missing(state: ConstructionState, *, now: datetime, thresholds: Thresholds) -> Finding:
    if state.started_on is None or state.completed or state.status in ENDED_STATUSES:
        return Finding(None)
    last = state.last_report_on or state.started_on
    yellow_at = day_start(last) + timedelta(days=thresholds.progress_missing_yellow_days)
    red_at = day_start(last) + timedelta(days=thresholds.progress_missing_red_days)
    why = f"no progress report since {last}"
    if now >= red_at:
        return Finding("red", f"{why} ({thresholds.progress_missing_red_days}+ days)")
    if now >= yellow_at:
        return Finding("yellow", f"{why} ({thresholds.progress_missing_yellow_days}+ days)", red_at)
    return Finding(None, next_change_at=yellow_at)


def expected_progress(state: ConstructionState, *, now: datetime) -> float | None:
    """Linear plan: 0 % at the actual start, 100 % at the planned completion."""
    if state.started_on is None or state.planned_completion is None:
        return None
    start, end = day_start(state.started_on), day_start(state.planned_completion)
    span = (end - start).total_seconds()
    if span <= 0:
        return 100.0
    share = (now - start).total_seconds() / span
    return min(max(share, 0.0), 1.0) * 100


def _plan_reaches(state: ConstructionState, percent: float) -> datetime | None:
    """When the linear plan reaches `percent` (None: never, it stops at 100)."""
    if percent > 100 or state.started_on is None or state.planned_completion is None:
        return None
    start, end = day_start(state.started_on), day_start(state.planned_completion)
    # One second past the exact instant, so that the rule sees the threshold crossed.
    return start + (end - start) * (percent / 100) + timedelta(seconds=1)


def progress_behind(state: ConstructionState, *, now: datetime, thresholds: Thresholds) -> Finding:
    expected = expected_progress(state, now=now)
    if expected is None or state.completed or state.status in ENDED_STATUSES:
        return Finding(None)
    reported = float(state.reported_progress or 0)
    behind = expected - reported
    yellow_from, red_above = thresholds.behind_yellow_points, thresholds.behind_red_points
    detail = f"reported {reported:g}% against {expected:g}% planned: {behind:.1f} points behind"
    red_at = _plan_reaches(state, reported + red_above)
    if behind > red_above:
        return Finding("red", detail)
    if behind >= yellow_from:
        return Finding("yellow", detail, red_at)
    return Finding(None, next_change_at=_plan_reaches(state, reported + yellow_from))
