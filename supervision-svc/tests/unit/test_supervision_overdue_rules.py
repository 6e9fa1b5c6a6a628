"""The approval_overdue rule: yellow at 90 % of a task's limit, red past it."""

from datetime import UTC, datetime, timedelta

import pytest

from supervision_svc.domain.alerts import open_key, step
from supervision_svc.domain.overdue import overdue_detail, overdue_level, task_level

ASSIGNED = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
DUE = ASSIGNED + timedelta(days=10)  # yellow at day 9


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (ASSIGNED, None),
        (ASSIGNED + timedelta(days=8, hours=23, minutes=59), None),
        (ASSIGNED + timedelta(days=9), "yellow"),  # exactly 90 %
        (ASSIGNED + timedelta(days=9, hours=12), "yellow"),
        (DUE, "yellow"),  # at the due instant it is not yet past due
        (DUE + timedelta(seconds=1), "red"),
        (DUE + timedelta(days=30), "red"),
    ],
)
def test_overdue_level(now, expected):
    assert overdue_level(assigned_at=ASSIGNED, due_at=DUE, now=now) == expected


def test_degenerate_limit_is_yellow_until_due_then_red():
    assert overdue_level(assigned_at=DUE, due_at=DUE, now=DUE) == "yellow"
    assert overdue_level(assigned_at=DUE, due_at=DUE, now=DUE + timedelta(seconds=1)) == "red"


def _step(now, current=None, status="pending", due=DUE):
    target = task_level(status=status, assigned_at=ASSIGNED, due_at=due, now=now)
    return step(current, target)


def test_nothing_before_the_threshold():
    assert _step(ASSIGNED + timedelta(days=1)) is None


def test_yellow_is_raised_once():
    at = ASSIGNED + timedelta(days=9, hours=1)
    assert _step(at) == "raise"
    assert _step(at, "yellow") is None


def test_red_escalates_the_yellow_alert():
    late = DUE + timedelta(hours=1)
    assert _step(late, "yellow") == "escalate"
    assert _step(late, "red") is None


def test_straight_to_red_without_yellow():
    assert _step(DUE + timedelta(days=2)) == "raise"


@pytest.mark.parametrize("status", ["approved", "rejected", "withdrawn", "supplement_required"])
def test_a_task_that_no_longer_waits_resolves_its_alert(status):
    assert _step(DUE + timedelta(days=2), "red", status=status) == "resolve"


def test_an_extended_due_date_clears_the_alert():
    # After a supplement pause the due date moves out: the condition no longer holds.
    now = ASSIGNED + timedelta(days=9, hours=1)
    assert _step(now, "yellow", due=DUE + timedelta(days=20)) == "resolve"


def test_an_open_alert_never_goes_down_a_level():
    # red, then the due date moves out to where the task is only yellow: it stays red.
    now = ASSIGNED + timedelta(days=9, hours=12)
    assert _step(now, "red", due=DUE + timedelta(hours=1)) is None


def test_detail_names_the_task_and_how_far_it_is():
    yellow = overdue_detail(
        level="yellow",
        department="MEE",
        matter_name="EIA approval: report",
        task_id="T1",
        assigned_at=ASSIGNED,
        due_at=DUE,
        now=ASSIGNED + timedelta(days=9, hours=12),
    )
    assert "MEE task T1 (EIA approval: report)" in yellow
    assert "95%" in yellow
    assert "2025-03-13 09:00 UTC" in yellow
    red = overdue_detail(
        level="red",
        department="MNR",
        matter_name="land",
        task_id="T2",
        assigned_at=ASSIGNED,
        due_at=DUE,
        now=DUE + timedelta(days=1, hours=12),
    )
    assert "past its time limit" in red
    assert "1.5 days late" in red


def test_open_key_is_one_per_kind_and_subject():
    assert open_key("approval_overdue", "T1") == open_key("approval_overdue", "T1")
    assert open_key("approval_overdue", "T1") != open_key("approval_overdue", "T2")
    assert open_key("progress_missing", "P") != open_key("progress_behind", "P")
