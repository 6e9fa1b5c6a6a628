"""End to end: supervision SIGKILLed and restarted while work is in flight loses and duplicates
no alert and no credit record (checked through its API and on `supervision.alerts`).

Run under the platform lock (one whole platform at a time on a shared machine).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from shared.events import CloudEvent, EventType
from shared.topics import SUPERVISION_ALERTS, SUPERVISION_REPORTS
from testkit import TopicReader

from e2e_platform import Platform
from supervision_e2e import (
    ALERT_EVENTS,
    alerts,
    credit_code,
    credit_records,
    decide,
    distinct,
    first_of_next_month,
    known,
    published,
    report,
    start_and_complete,
    start_platform,
    submit,
    supervision,
    today,
    transitions,
    wait_alert,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    yield from start_platform(tmp_path_factory)


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
