"""The approval_overdue rule: yellow at 90 % of a task's limit, red past it."""

from datetime import UTC, datetime, timedelta

import pytest

from supervision_svc.domain.alerts import open_key
from supervision_svc.domain.overdue import (
    AlertPlan,
    overdue_detail,
    overdue_level,
    plan_task_alerts,
)

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


def _plan(now, open_levels=(), status="pending"):
    return plan_task_alerts(
        status=status, assigned_at=ASSIGNED, due_at=DUE, now=now, open_levels=set(open_levels)
    )


def test_nothing_before_the_threshold():
    assert _plan(ASSIGNED + timedelta(days=1)) == AlertPlan()


def test_yellow_is_raised_once():
    at = ASSIGNED + timedelta(days=9, hours=1)
    assert _plan(at) == AlertPlan(raise_level="yellow")
    assert _plan(at, ["yellow"]) == AlertPlan()


def test_red_supersedes_yellow():
    late = DUE + timedelta(hours=1)
    assert _plan(late, ["yellow"]) == AlertPlan(raise_level="red", resolve_levels=("yellow",))
    assert _plan(late, ["red"]) == AlertPlan()


def test_straight_to_red_without_yellow():
    assert _plan(DUE + timedelta(days=2)) == AlertPlan(raise_level="red")


@pytest.mark.parametrize("status", ["approved", "rejected", "withdrawn", "supplement_required"])
def test_a_task_that_no_longer_waits_resolves_everything(status):
    plan = _plan(DUE + timedelta(days=2), ["yellow", "red"], status=status)
    assert plan == AlertPlan(raise_level=None, resolve_levels=("yellow", "red"))


def test_an_extended_due_date_clears_the_alert():
    # After a supplement pause the due date moves out: the condition no longer holds.
    plan = plan_task_alerts(
        status="pending",
        assigned_at=ASSIGNED,
        due_at=DUE + timedelta(days=20),
        now=ASSIGNED + timedelta(days=9, hours=1),
        open_levels={"yellow"},
    )
    assert plan == AlertPlan(resolve_levels=("yellow",))


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


def test_open_key_distinguishes_levels():
    assert open_key("approval_overdue", "T1", "yellow") != open_key("approval_overdue", "T1", "red")
