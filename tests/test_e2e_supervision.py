"""End to end with compressed days: approval and supervision as real processes on the real
broker. `start_overdue` and `approval_overdue` go yellow, red and resolved as platform days
pass; supervision SIGKILLed and restarted while work is in flight loses and duplicates no alert
and no credit record (checked through its API and on `supervision.alerts`).

Run under the platform lock (one whole platform at a time on a shared machine).
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from stdnum.cn import uscc

from shared.events import CloudEvent, EventType
from shared.topics import SUPERVISION_ALERTS, SUPERVISION_REPORTS
from testkit import TopicReader, auth_headers, clock_from_env, eventually_sync

from e2e_platform import Platform

pytestmark = pytest.mark.e2e

# One platform day lasts this many real seconds: a 60-day time limit runs out in 15.
DAY_SECONDS = 0.25
OPS = auth_headers("ops")
START_RED_AFTER_DAYS = 90  # rules.yaml: start_overdue goes red 3 months after the yellow
ALERT_EVENTS = {EventType.ALERT_RAISED, EventType.ALERT_RESOLVED}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    running = Platform(
        workdir=Path(tmp_path_factory.mktemp("platform")),
        day_seconds=DAY_SECONDS,
        services=("approval", "supervision"),
    ).start()
    try:
        yield running
    finally:
        running.stop()


# --- talking to the platform ---------------------------------------------------------------


def credit_code() -> str:
    base = "91440300" + uuid.uuid4().hex[:9].upper()  # hex: only characters USCC allows
    return base + uscc.calc_check_digit(base)


def now(platform: Platform) -> datetime:
    """The platform's instant now (the services run on the same compressed clock)."""
    return clock_from_env(platform.env_used).now()


def today(platform: Platform) -> date:
    return now(platform).date()


def first_of_next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def submit(
    platform: Platform,
    credit: str,
    region: str,
    *,
    eia: str = "none",
    planned_start: date | None = None,
) -> dict[str, Any]:
    """A filing project: filed at once, or in review with one MEE task when `eia` triggers it."""
    body = {
        "name": "Riverside warehouse",
        "region_code": region,
        "industry_code": "G5920",
        "procedure": "filing",
        "total_investment": "120000000",
        "location": "Riverside, north county",
        "description": "Cold-chain warehouse",
        "planned_start": str(planned_start or date.today() + timedelta(days=3650)),
        "eia_category": eia,
    }
    response = httpx.post(
        f"{platform.urls['approval']}/api/v1/projects",
        json=body,
        headers=auth_headers("enterprise", credit_code=credit),
        timeout=30,
    )
    assert response.status_code == 201, response.text
    project: dict[str, Any] = response.json()
    return project


def decide(platform: Platform, task: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"{platform.urls['approval']}/api/v1/tasks/{task['task_id']}/decision",
        json={"decision": "approved", "opinion": "complies"},
        headers=auth_headers("department", department=task["department"]),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    decided: dict[str, Any] = response.json()
    return decided


def supervision(platform: Platform, path: str, **params: Any) -> Any:
    response = httpx.get(
        f"{platform.urls['supervision']}{path}", params=params, headers=OPS, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def known(platform: Platform, code: str) -> None:
    def projected() -> bool:
        url = f"{platform.urls['supervision']}/api/v1/projects/{code}/supervision"
        return httpx.get(url, headers=OPS, timeout=10).status_code == 200

    eventually_sync(projected, timeout_s=30, what=f"{code} known to supervision")


def report(platform: Platform, credit: str, code: str, **fields: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{platform.urls['supervision']}/api/v1/projects/{code}/reports",
        json=fields,
        headers=auth_headers("enterprise", credit_code=credit),
        timeout=10,
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def start_and_complete(platform: Platform, credit: str, code: str) -> None:
    """Construction starts and is done the same day: no construction rule runs afterwards."""
    day = str(today(platform))
    report(platform, credit, code, kind="start", report_date=day)
    report(platform, credit, code, kind="completion", report_date=day, progress_percent=100)


def alerts(platform: Platform, code: str, kind: str | None = None) -> list[dict[str, Any]]:
    params = {"project_code": code, "limit": 100} | ({"kind": kind} if kind else {})
    items: list[dict[str, Any]] = supervision(platform, "/api/v1/alerts", **params)["items"]
    return items


def wait_alert(platform: Platform, code: str, kind: str, state: str) -> dict[str, Any]:
    """The project's one alert of `kind` once it is `state` (yellow, red or resolved)."""

    def reached() -> dict[str, Any] | None:
        items = alerts(platform, code, kind)
        assert len(items) <= 1, items  # one alert per project and kind
        if not items:
            return None
        alert = items[0]
        done = alert["resolved_at"] is not None
        return alert if (done if state == "resolved" else alert["level"] == state) else None

    found: dict[str, Any] = eventually_sync(reached, timeout_s=60, what=f"{kind} {state} on {code}")
    return found


def credit_records(platform: Platform, credit: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = supervision(platform, f"/api/v1/enterprises/{credit}/credit")[
        "records"
    ]
    return records


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- what was published ----------------------------------------------------------------------


def distinct(events: list[CloudEvent]) -> list[CloudEvent]:
    """One of each event id: the outbox may publish a row again after a crash (same id)."""
    return list({event.id: event for event in events}.values())


def transitions(events: list[CloudEvent], alert_id: str) -> list[tuple[str, str]]:
    """(type, level) of each distinct event about one alert, in the order published."""
    return [
        (str(e.type), e.data["level"])
        for e in distinct(events)
        if e.type in ALERT_EVENTS and e.data["alert_id"] == alert_id
    ]


def published(platform: Platform, report_id: str) -> bool:
    """Whether a report's event is on the topic within a second (for the log only)."""
    with TopicReader(platform.bootstrap, SUPERVISION_REPORTS) as reader:
        try:
            reader.read_until(
                lambda events: any(e.data.get("report_id") == report_id for e in events),
                timeout_s=1,
            )
        except AssertionError:
            return False
    return True


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


def test_supervision_killed_mid_run_loses_and_duplicates_nothing(
    platform: Platform, region_code: str
) -> None:
    day0 = today(platform)
    # Planned start long enough ago that the start is overdue (yellow) at once and goes red
    # 10 to 41 platform days from now.
    overdue_from = first_of_next_month(day0 - timedelta(days=81))
    late_start = overdue_from - timedelta(days=1)

    # O: a department sits on each task (MEE table: 30 calendar days): approval_overdue.
    slow = {}
    for _ in range(3):
        credit = credit_code()
        slow[credit] = submit(platform, credit, region_code, eia="table")
    # S: construction starts before the approval (MEE report, 60 days): red at once, serious.
    early = {}
    for _ in range(3):
        credit = credit_code()
        early[credit] = submit(platform, credit, region_code, eia="report")
    # F: filed, the planned start month long past and no start report: start_overdue, ordinary.
    filed = {}
    for _ in range(3):
        credit = credit_code()
        filed[credit] = submit(platform, credit, region_code, planned_start=late_start)

    codes = {p["project_code"]: c for group in (slow, early, filed) for c, p in group.items()}
    for code in codes:
        known(platform, code)
    (s1, p1), (s2, p2), (s3, p3) = early.items()
    for credit, project in ((s1, p1), (s2, p2)):
        start_and_complete(platform, credit, project["project_code"])
    decide(platform, p1["tasks"][0])  # S1 approved before the kill

    # The kill: once the first approval_overdue of O is on the topic (the sweep's outbox is
    # publishing), right after a report was accepted and while a decision travels to it.
    slow_codes = {p["project_code"] for p in slow.values()}
    with TopicReader(platform.bootstrap, SUPERVISION_ALERTS) as reader:
        reader.read_until(
            lambda events: any(
                e.type == EventType.ALERT_RAISED and e.subject in slow_codes for e in events
            ),
            timeout_s=60,
        )
    decide(platform, p2["tasks"][0])
    # Killed as soon as the report is accepted: its events are most likely still in the outbox.
    s3_report = report(platform, s3, p3["project_code"], kind="start",
                       report_date=str(today(platform)))  # fmt: skip
    platform.kill_service("supervision")
    killed_on = today(platform)
    in_flight = not published(platform, s3_report["report_id"])

    # While it is down: approval goes on (a decision, two new filings).
    decide(platform, p3["tasks"][0])
    latecomers = {}
    for _ in range(2):
        credit = credit_code()
        latecomers[credit] = submit(platform, credit, region_code)
    platform.start_service("supervision")
    platform.wait_ready()
    restarted_on = today(platform)

    report(platform, s3, p3["project_code"], kind="completion",
           report_date=str(today(platform)), progress_percent=100)  # fmt: skip
    for project in latecomers.values():
        known(platform, project["project_code"])

    # Settle: every alert reaches red, then what clears it happens.
    overdue = {c: wait_alert(platform, p["project_code"], "approval_overdue", "red")
               for c, p in slow.items()}  # fmt: skip
    late = {c: wait_alert(platform, p["project_code"], "start_overdue", "red")
            for c, p in filed.items()}  # fmt: skip
    started = {c: wait_alert(platform, p["project_code"], "started_before_approval", "resolved")
               for c, p in early.items()}  # fmt: skip
    for project in slow.values():
        decide(platform, project["tasks"][0])
    for credit, project in filed.items():
        start_and_complete(platform, credit, project["project_code"])
    for credit, project in slow.items():
        wait_alert(platform, project["project_code"], "approval_overdue", "resolved")
    for credit, project in filed.items():
        wait_alert(platform, project["project_code"], "start_overdue", "resolved")

    # The API: one alert per project and kind, every expected one there, red and resolved.
    expected = {
        **{(p["project_code"], "approval_overdue"): overdue[c] for c, p in slow.items()},
        **{(p["project_code"], "started_before_approval"): started[c] for c, p in early.items()},
        **{(p["project_code"], "start_overdue"): late[c] for c, p in filed.items()},
    }
    for code in [*codes, *(p["project_code"] for p in latecomers.values())]:
        listed = alerts(platform, code)
        kinds = Counter(a["kind"] for a in listed)
        assert all(n == 1 for n in kinds.values()), listed
        for alert in listed:
            if (code, alert["kind"]) in expected:
                assert alert["alert_id"] == expected[code, alert["kind"]]["alert_id"]
                assert (alert["level"], alert["resolved_at"] is not None) == ("red", True)
    assert all(kind in Counter(a["kind"] for a in alerts(platform, code))
               for code, kind in expected)  # fmt: skip

    # Credit: one record per red construction alert, none for a department's lateness.
    records: dict[str, dict[str, Any]] = {}
    for credit in codes.values():
        for record in credit_records(platform, credit):
            records[record["record_id"]] = record
    by_alert = Counter(r["alert_id"] for r in records.values())
    assert all(n == 1 for n in by_alert.values()), records
    for credit, alert in started.items():
        owned = credit_records(platform, credit)
        assert [(r["severity"], r["alert_id"]) for r in owned] == [("serious", alert["alert_id"])]
    for credit, alert in late.items():
        owned = credit_records(platform, credit)
        assert [(r["severity"], r["alert_id"]) for r in owned] == [("ordinary", alert["alert_id"])]
    for credit in slow:
        assert credit_records(platform, credit) == []
    assert supervision(platform, f"/api/v1/enterprises/{s3}/credit")["status"] == "abnormal"

    # The topic: every record and every alert change exactly once (one event id each; the
    # same id twice is a redelivery by the outbox, allowed).
    credits = set(codes.values())

    def all_published(events: list[CloudEvent]) -> bool:
        added = {
            e.data["record_id"]
            for e in events
            if e.type == EventType.CREDIT_RECORD_ADDED and e.subject in credits
        }
        return added >= set(records) and all(
            ("supervision.alert.resolved", "red") in transitions(events, a["alert_id"])
            for a in expected.values()
        )

    with TopicReader(platform.bootstrap, SUPERVISION_ALERTS, SUPERVISION_REPORTS) as reader:
        events = reader.read_until(all_published, timeout_s=60)
    ours = [e for e in events if e.subject in codes or e.subject in credits]
    added = defaultdict(set)
    for event in ours:
        if event.type == EventType.CREDIT_RECORD_ADDED:
            added[event.data["record_id"]].add(event.id)
    assert set(added) == set(records)
    assert all(len(ids) == 1 for ids in added.values()), added

    alert_ids = {e.data["alert_id"] for e in ours if e.type in ALERT_EVENTS}
    assert alert_ids == {a["alert_id"] for code in codes for a in alerts(platform, code)}
    for alert_id in alert_ids:
        steps = transitions(ours, alert_id)
        assert len(steps) == len(set(steps)), (alert_id, steps)  # no transition twice
        assert steps[-1][0] == "supervision.alert.resolved" or alert_id not in {
            a["alert_id"] for a in expected.values()
        }, steps
    for alert in expected.values():
        steps = transitions(ours, alert["alert_id"])
        assert ("supervision.alert.raised", "red") in steps, steps
        assert steps[-1] == ("supervision.alert.resolved", "red"), steps

    status_changes = Counter(
        (e.subject, e.data["previous_status"], e.data["status"])
        for e in distinct(ours)
        if e.type == EventType.CREDIT_STATUS_CHANGED
    )
    assert all(n == 1 for n in status_changes.values()), status_changes
    assert {s for (s, _, new) in status_changes if new == "abnormal"} == set(early)

    filed_reports = Counter(
        e.data["report_id"] for e in distinct(ours) if e.type == EventType.REPORT_FILED
    )
    assert all(n == 1 for n in filed_reports.values()), filed_reports
    # S1, S2: start + completion; S3: start (accepted just before the kill) + completion; F too.
    assert len(filed_reports) == 2 * (len(early) + len(filed))

    redelivered = len(ours) - len(distinct(ours))
    print(
        f"killed on {killed_on}, back on {restarted_on}; the last report's event was "
        f"{'not yet' if in_flight else 'already'} on the topic 1 s after the kill; "
        f"{redelivered} events published twice"
    )
