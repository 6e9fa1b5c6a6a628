"""End to end with compressed days: approval and supervision as real processes on the real
broker. `start_overdue` and `approval_overdue` go yellow, red and resolved as platform days pass.

Run under the platform lock (one whole platform at a time on a shared machine).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from shared.topics import SUPERVISION_ALERTS
from testkit import TopicReader

from e2e_platform import Platform
from supervision_e2e import (
    ALERT_EVENTS,
    START_RED_AFTER_DAYS,
    credit_code,
    credit_records,
    decide,
    distinct,
    first_of_next_month,
    instant,
    known,
    report,
    start_platform,
    submit,
    today,
    transitions,
    wait_alert,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    yield from start_platform(tmp_path_factory)


# --- the rules, one by one --------------------------------------------------------------------


def test_start_overdue_goes_yellow_then_red_then_resolved(
    platform: Platform, region_code: str
) -> None:
    planned = today(platform)  # the start is planned this month; nobody reports it
    yellow_at = first_of_next_month(planned)  # the month has passed: yellow
    red_at = yellow_at + timedelta(days=START_RED_AFTER_DAYS)

    filer = credit_code()
    filed = submit(platform, filer, region_code, planned_start=planned)
    assert filed["status"] == "filed"
    approved_by = credit_code()  # the same rule for a project that needed an approval
    reviewed = submit(platform, approved_by, region_code, eia="table", planned_start=planned)
    [task] = reviewed["tasks"]
    decide(platform, task)
    projects = {filed["project_code"]: filer, reviewed["project_code"]: approved_by}
    for code in projects:
        known(platform, code)

    yellows = {code: wait_alert(platform, code, "start_overdue", "yellow") for code in projects}
    reds = {code: wait_alert(platform, code, "start_overdue", "red") for code in projects}
    for code, credit in projects.items():
        assert reds[code]["alert_id"] == yellows[code]["alert_id"]  # escalated, the same alert
        report(platform, credit, code, kind="start", report_date=str(today(platform)))
    for code, credit in projects.items():
        resolved = wait_alert(platform, code, "start_overdue", "resolved")
        assert resolved["alert_id"] == yellows[code]["alert_id"]
        assert [(r["severity"], r["alert_id"]) for r in credit_records(platform, credit)] == [
            ("ordinary", reds[code]["alert_id"])
        ]

    # Each change published once, and not before it was due on the platform clock.
    with TopicReader(platform.bootstrap, SUPERVISION_ALERTS) as reader:
        for code in projects:
            alert_id = yellows[code]["alert_id"]
            events = reader.collect(
                lambda e, a=alert_id: e.type in ALERT_EVENTS and e.data["alert_id"] == a,
                3,
                timeout_s=30,
            )
            assert transitions(events, alert_id) == [
                ("supervision.alert.raised", "yellow"),
                ("supervision.alert.raised", "red"),
                ("supervision.alert.resolved", "red"),
            ]
            raised_yellow, raised_red = distinct(events)[:2]
            assert raised_yellow.time.date() >= yellow_at
            assert raised_red.time.date() >= red_at


def test_approval_overdue_goes_yellow_then_red_then_resolved_by_the_decision(
    platform: Platform, region_code: str
) -> None:
    enterprise = credit_code()
    project = submit(platform, enterprise, region_code, eia="report")  # MEE: 60 calendar days
    code = project["project_code"]
    [task] = project["tasks"]
    assigned_at, due_at = instant(task["assigned_at"]), instant(task["due_at"])
    yellow_at = assigned_at + (due_at - assigned_at) * 0.9
    known(platform, code)

    yellow = wait_alert(platform, code, "approval_overdue", "yellow")
    red = wait_alert(platform, code, "approval_overdue", "red")
    assert red["alert_id"] == yellow["alert_id"]
    decided = decide(platform, task)
    resolved = wait_alert(platform, code, "approval_overdue", "resolved")
    assert resolved["alert_id"] == yellow["alert_id"]
    assert instant(resolved["resolved_at"]) >= instant(decided["decided_at"])
    # The department was late, not the enterprise: no credit record.
    assert credit_records(platform, enterprise) == []

    with TopicReader(platform.bootstrap, SUPERVISION_ALERTS) as reader:
        events = reader.collect(
            lambda e: e.type in ALERT_EVENTS and e.data["alert_id"] == yellow["alert_id"],
            3,
            timeout_s=30,
        )
    assert transitions(events, yellow["alert_id"]) == [
        ("supervision.alert.raised", "yellow"),
        ("supervision.alert.raised", "red"),
        ("supervision.alert.resolved", "red"),
    ]
    raised_yellow, raised_red, _ = distinct(events)
    assert raised_yellow.data["task_id"] == task["task_id"]
    assert yellow_at <= raised_yellow.time < due_at
    assert raised_red.time > due_at


# --- supervision killed mid-run ---------------------------------------------------------------
