"""Reports and construction rules end to end: the real app, database and broker, approval's
events produced on `approval.projects`, platform days compressed by a manual clock.

Each rule goes yellow, then red (the same alert, escalated), then resolved; a red one leaves a
credit record, and the credit status follows.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from shared.clock import ManualClock
from shared.events import EventType
from shared.topics import APPROVAL_PROJECTS, SUPERVISION_ALERTS, SUPERVISION_REPORTS
from testkit import TopicReader, auth_headers, eventually

from supervision_it import (
    OPS,
    approval_event,
    project_code,
    project_json,
    unique_credit_code,
)

pytestmark = pytest.mark.integration

START = datetime(2025, 3, 20, 8, 0, tzinfo=UTC)


async def _project(publish, client, code, credit, *, status, planned_start="2025-04-10"):
    data = project_json(code, credit_code=credit, status=status, submitted_at=START)
    data["planned_start"] = planned_start
    event_type = EventType.PROJECT_APPROVED if status == "approved" else EventType.PROJECT_SUBMITTED
    await publish(APPROVAL_PROJECTS, approval_event(event_type, code, data))

    async def known():
        response = await client.get(f"/api/v1/projects/{code}/supervision", headers=OPS)
        return response.status_code == 200

    await eventually(known, what=f"project {code} projected")


async def _open_alert(client, code, kind, level):
    async def found():
        params = {"project_code": code, "kind": kind, "status": "open"}
        items = (await client.get("/api/v1/alerts", headers=OPS, params=params)).json()["items"]
        return items if items and items[0]["level"] == level else None

    [alert] = await eventually(found, what=f"{kind} {level} on {code}")
    return alert


async def _resolved(client, code, kind):
    async def found():
        params = {"project_code": code, "kind": kind}
        items = (await client.get("/api/v1/alerts", headers=OPS, params=params)).json()["items"]
        return items if items and all(a["resolved_at"] for a in items) else None

    return await eventually(found, what=f"{kind} resolved on {code}")


async def test_start_overdue_yellow_red_resolved_and_reports(
    running_app, publish, kafka_bootstrap, region_code
):
    clock = ManualClock(START)
    code, credit = project_code(region_code), unique_credit_code()
    enterprise = auth_headers("enterprise", credit_code=credit)
    async with running_app(clock=clock) as client:
        await _project(publish, client, code, credit, status="approved")
        view = (await client.get(f"/api/v1/projects/{code}/supervision", headers=enterprise)).json()
        assert (view["light"], view["open_alerts"], view["last_report"]) == ("green", [], None)

        clock.advance(timedelta(days=13))  # 2 April... planned start month (April) not over
        clock.advance(timedelta(days=30))  # 2 May: April has passed without a start report
        yellow = await _open_alert(client, code, "start_overdue", "yellow")
        clock.advance(timedelta(days=90))
        red = await _open_alert(client, code, "start_overdue", "red")
        assert red["alert_id"] == yellow["alert_id"]

        # Another enterprise: 404; bad input: 422 naming the field; nothing stored.
        other = auth_headers("enterprise", credit_code=unique_credit_code())
        start = {
            "kind": "start",
            "report_date": str(clock.now().date()),
            "planned_completion": "2026-12-31",
        }
        assert (
            await client.post(f"/api/v1/projects/{code}/reports", json=start, headers=other)
        ).status_code == 404
        future = start | {"report_date": str(clock.now().date() + timedelta(days=1))}
        refused = await client.post(
            f"/api/v1/projects/{code}/reports", json=future, headers=enterprise
        )
        assert refused.status_code == 422
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["errors"][0]["loc"] == ["body", "report_date"]
        bad = await client.post(
            f"/api/v1/projects/{code}/reports",
            json={"kind": "progress", "report_date": "2025-01-01", "progress_percent": 120},
            headers=enterprise,
        )
        assert bad.status_code == 422
        assert "progress_percent" in str(bad.json()["errors"])

        created = await client.post(
            f"/api/v1/projects/{code}/reports", json=start, headers=enterprise
        )
        assert created.status_code == 201, created.text
        report = created.json()
        assert report["planned_completion"] == "2026-12-31"
        assert report["project_code"] == code
        await _resolved(client, code, "start_overdue")
        listed = (await client.get(f"/api/v1/projects/{code}/reports", headers=enterprise)).json()
        assert [r["report_id"] for r in listed["items"]] == [report["report_id"]]
        assert listed["next_cursor"] is None
        view = (await client.get(f"/api/v1/projects/{code}/supervision", headers=enterprise)).json()
        assert view["last_report"]["report_id"] == report["report_id"]
        assert view["reported_progress_percent"] == 0
        assert 0 <= view["expected_progress_percent"] < 1  # started today

        credit_view = (
            await client.get(f"/api/v1/enterprises/{credit}/credit", headers=enterprise)
        ).json()
        [record] = credit_view["records"]
        assert (record["severity"], record["alert_id"]) == ("ordinary", red["alert_id"])
        assert credit_view["status"] == "normal"

        # progress_missing: yellow after 30 days, red after 60 (same alert), resolved by a report.
        clock.advance(timedelta(days=31))
        missing = await _open_alert(client, code, "progress_missing", "yellow")
        clock.advance(timedelta(days=30))
        assert (await _open_alert(client, code, "progress_missing", "red"))["alert_id"] == missing[
            "alert_id"
        ]
        view = (await client.get(f"/api/v1/projects/{code}/supervision", headers=enterprise)).json()
        assert view["light"] == "red"
        progress = {
            "kind": "progress",
            "report_date": str(clock.now().date()),
            "progress_percent": 50,
        }
        assert (
            await client.post(f"/api/v1/projects/{code}/reports", json=progress, headers=enterprise)
        ).status_code == 201
        await _resolved(client, code, "progress_missing")
        # Two ordinary records within 12 months: abnormal.
        credit_view = (await client.get(f"/api/v1/enterprises/{credit}/credit", headers=OPS)).json()
        assert credit_view["status"] == "abnormal"
        assert len(credit_view["records"]) == 2

    with TopicReader(kafka_bootstrap, SUPERVISION_REPORTS, SUPERVISION_ALERTS) as reader:
        reports = await reader.acollect(
            lambda e: e.type == EventType.REPORT_FILED and e.subject == code, 2
        )
        changed = await reader.acollect(
            lambda e: e.type == EventType.CREDIT_STATUS_CHANGED and e.subject == credit, 1
        )
    assert [e.data["kind"] for e in reports] == ["start", "progress"]
    assert (changed[0].data["previous_status"], changed[0].data["status"]) == ("normal", "abnormal")


async def test_started_before_approval_is_red_at_once_and_resolved_by_the_approval(
    running_app, publish, region_code
):
    clock = ManualClock(START)
    credit = unique_credit_code()
    codes = [project_code(region_code, n) for n in (1, 2)]
    enterprise = auth_headers("enterprise", credit_code=credit)
    async with running_app(clock=clock) as client:
        for code in codes:
            await _project(publish, client, code, credit, status="in_review")
            start = {"kind": "start", "report_date": str(date(2025, 3, 20))}
            created = await client.post(
                f"/api/v1/projects/{code}/reports", json=start, headers=enterprise
            )
            assert created.status_code == 201, created.text
            await _open_alert(client, code, "started_before_approval", "red")

        # Two serious records: dishonest, on the public list (no token).
        public = (await client.get("/api/v1/public/credit/dishonest")).json()
        assert credit in [item["credit_code"] for item in public["items"]]
        credit_view = (await client.get(f"/api/v1/enterprises/{credit}/credit", headers=OPS)).json()
        assert credit_view["status"] == "dishonest"

        approved = project_json(codes[0], credit_code=credit, status="approved", submitted_at=START)
        await publish(
            APPROVAL_PROJECTS, approval_event(EventType.PROJECT_APPROVED, codes[0], approved)
        )
        await _resolved(client, codes[0], "started_before_approval")

        # Ops corrects one record: status recomputed (one serious left: abnormal).
        record = credit_view["records"][0]
        url = f"/api/v1/enterprises/{credit}/credit/records/{record['record_id']}/correct"
        assert (await client.post(url, json={"reason": "x"}, headers=enterprise)).status_code == 403
        assert (await client.post(url, json={}, headers=OPS)).status_code == 422
        corrected = await client.post(url, json={"reason": "permit obtained"}, headers=OPS)
        assert corrected.status_code == 200, corrected.text
        assert corrected.json()["status"] == "abnormal"
        assert (await client.post(url, json={"reason": "again"}, headers=OPS)).status_code == 409
        public = (await client.get("/api/v1/public/credit/dishonest")).json()
        assert credit not in [item["credit_code"] for item in public["items"]]
