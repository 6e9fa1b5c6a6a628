"""The construction rules (pure): each one's yellow, red and clear, and when to look next."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from supervision_svc.domain.construction import ConstructionState, evaluate, month_after

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)


def _levels(state, now=NOW):
    return {k: f.level for k, f in evaluate(state, now=now).findings.items() if f.level}


def test_month_after():
    assert month_after(date(2025, 1, 31)) == datetime(2025, 2, 1, tzinfo=UTC)
    assert month_after(date(2025, 12, 5)) == datetime(2026, 1, 1, tzinfo=UTC)


# --- started_before_approval ----------------------------------------------------------------


@pytest.mark.parametrize("status", ["submitted", "in_review", "supplement_required", "rejected"])
def test_started_before_approval_is_red_until_approved(status):
    state = ConstructionState(
        status=status,
        started_on=date(2025, 6, 1),
        started_before_approval=True,
        last_report_on=date(2025, 6, 1),
    )
    assert _levels(state)["started_before_approval"] == "red"


def test_started_before_approval_clears_on_approval():
    state = ConstructionState(
        status="approved",
        started_on=date(2025, 6, 1),
        started_before_approval=True,
        last_report_on=date(2025, 6, 1),
        cleared_at=NOW,
    )
    assert "started_before_approval" not in _levels(state)


# --- start_overdue ----------------------------------------------------------------------------


def _approved(**over):
    return ConstructionState(**{"status": "approved", "planned_start": date(2025, 5, 10), **over})


def test_start_overdue_yellow_once_the_planned_month_has_passed_then_red_90_days_later():
    state = _approved()
    before = evaluate(state, now=datetime(2025, 5, 31, 23, tzinfo=UTC))
    assert before.findings["start_overdue"].level is None
    assert before.next_check_at == datetime(2025, 6, 1, tzinfo=UTC)  # the timer
    yellow = evaluate(state, now=datetime(2025, 6, 1, tzinfo=UTC))
    assert yellow.findings["start_overdue"].level == "yellow"
    assert yellow.next_check_at == datetime(2025, 8, 30, tzinfo=UTC)
    assert _levels(state, now=datetime(2025, 8, 30, tzinfo=UTC))["start_overdue"] == "red"


def test_start_overdue_does_not_run_while_in_approval_nor_after_a_start_report():
    assert _levels(_approved(status="in_review"), now=NOW + timedelta(days=200)) == {}
    started = _approved(started_on=date(2025, 6, 1), last_report_on=date(2025, 6, 1))
    assert "start_overdue" not in _levels(started, now=datetime(2025, 6, 20, tzinfo=UTC))


def test_a_filed_project_without_planned_start_that_never_reports_is_caught():
    state = ConstructionState(status="filed", cleared_at=NOW)
    assert _levels(state, now=NOW + timedelta(days=29)) == {}
    assert _levels(state, now=NOW + timedelta(days=30)) == {"start_overdue": "yellow"}
    assert _levels(state, now=NOW + timedelta(days=120)) == {"start_overdue": "red"}


# --- progress_missing ---------------------------------------------------------------------------


def _started(**over):
    base = {
        "status": "approved",
        "planned_start": date(2025, 1, 10),
        "started_on": date(2025, 1, 10),
        "last_report_on": date(2025, 1, 10),
        "reported_progress": Decimal(0),
    }
    return ConstructionState(**{**base, **over})


def test_progress_missing_yellow_after_30_days_red_after_60_cleared_by_a_report():
    start = datetime(2025, 1, 10, tzinfo=UTC)
    assert "progress_missing" not in _levels(_started(), now=start + timedelta(days=29))
    assert _levels(_started(), now=start + timedelta(days=30))["progress_missing"] == "yellow"
    assert _levels(_started(), now=start + timedelta(days=60))["progress_missing"] == "red"
    reported = _started(last_report_on=date(2025, 3, 10), reported_progress=Decimal(80))
    assert "progress_missing" not in _levels(reported, now=start + timedelta(days=60))


def test_nothing_runs_after_completion():
    done = _started(completed=True, reported_progress=Decimal(100))
    assert _levels(done, now=NOW + timedelta(days=400)) == {}
    assert evaluate(done, now=NOW).next_check_at is None


# --- progress_behind ---------------------------------------------------------------------------


def _planned(progress, **over):
    # 100 days from start to planned completion: the plan moves 1 point a day.
    return _started(
        planned_completion=date(2025, 4, 20),
        reported_progress=Decimal(progress),
        last_report_on=date(2025, 3, 1),
        **over,
    )


@pytest.mark.parametrize(
    ("day", "progress", "expected"),
    [
        (50, 45, None),  # 5 behind
        (50, 40, "yellow"),  # exactly 10 behind
        (50, 20, "yellow"),  # exactly 30 behind
        (50, 19, "red"),  # more than 30 behind
        (150, 95, None),  # the plan stops at 100 %
    ],
)
def test_progress_behind_levels(day, progress, expected):
    now = datetime(2025, 1, 10, tzinfo=UTC) + timedelta(days=day)
    assert evaluate(_planned(progress), now=now).findings["progress_behind"].level == expected


def test_progress_behind_timer_is_when_the_plan_gets_10_points_ahead():
    evaluation = evaluate(_planned(40), now=datetime(2025, 2, 1, tzinfo=UTC))
    assert evaluation.findings["progress_behind"].next_change_at == datetime(
        2025, 1, 10, tzinfo=UTC
    ) + timedelta(days=50, seconds=1)
    assert evaluation.expected_progress == pytest.approx(22.0)
