"""The approval projection against the real broker and database: stats, dedupe, dead letters."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from shared.events import EventType
from shared.topics import APPROVAL_PROJECTS, DEPARTMENT_CODES, dlq_topic
from testkit import TopicReader, auth_headers, eventually

from supervision_it import (
    OPS,
    approval_event,
    days,
    project_code,
    project_json,
    task_json,
    unique_department,
)

pytestmark = pytest.mark.integration


async def _overview(client, headers):
    response = await client.get("/api/v1/stats/overview", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_submitted_project_shows_up_in_the_overview(running_app, publish, region_code):
    now = datetime.now(UTC)
    code, dept = project_code(region_code), unique_department()
    late = task_json(code, department=dept, assigned_at=now - days(12), due_at=now - days(2))
    fresh = task_json(code, department=dept, assigned_at=now, due_at=now + days(20))
    dept_headers = auth_headers("department", department=dept)

    async with running_app(timer_floor_s=0.05) as client:
        assert (await client.get("/readyz")).status_code == 200
        submitted = project_json(code, tasks=[late, fresh])
        await publish(
            APPROVAL_PROJECTS, approval_event(EventType.PROJECT_SUBMITTED, code, submitted)
        )

        async def projected():
            body = await _overview(client, dept_headers)
            counted = body["projects_total"] == 1 and body["by_department"][dept]["overdue"] == 1
            return body if counted else None

        # Overdue = the department's open red cards: counted once the time rules have run.
        body = await eventually(projected, what="the project in the department's overview")
        assert body["projects_by_status"]["in_review"] == 1
        assert body["by_department"] == {
            dept: {
                "pending": 2,
                "overdue": 1,
                "decided": 0,
                "awaiting_supplement": 0,
                "mean_decision_hours": None,
                "on_time_rate": None,
            }
        }
        assert body["alerts_by_kind"]["approval_overdue"] == 1

        decided = fresh | {
            "status": "approved",
            "decision": "approved",
            "decided_at": (now + timedelta(hours=30)).isoformat(),
        }
        event = approval_event(EventType.DECISION_RECORDED, code, decided)
        await publish(APPROVAL_PROJECTS, event)

        async def decided_counted():
            stats = (await _overview(client, dept_headers))["by_department"][dept]
            return stats if stats["decided"] == 1 else None

        stats = await eventually(decided_counted, what="the decision in the overview")
        assert stats["pending"] == 1
        assert stats["mean_decision_hours"] == 30.0
        assert stats["on_time_rate"] == 1.0

        # The overdue task gets a red card from the sweep.
        async def red_counted():
            levels = (await _overview(client, dept_headers))["alerts_by_level"]
            return levels if levels["red"] == 1 else None

        assert await eventually(red_counted, what="a red alert") == {"yellow": 0, "red": 1}

        ops = await _overview(client, OPS)
        assert ops["by_department"][dept]["decided"] == 1
        assert set(DEPARTMENT_CODES) <= set(ops["by_department"])
        assert ops["projects_total"] >= 1

        enterprise = auth_headers("enterprise", credit_code=submitted["credit_code"])
        refused = await client.get("/api/v1/stats/overview", headers=enterprise)
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert (await client.get("/api/v1/stats/overview")).status_code == 401


def _duplicates(metrics: str, event_type: str) -> float:
    pattern = (
        r'^duplicate_events_dropped_total\{service="supervision",type="'
        + re.escape(event_type)
        + r'"\} ([0-9.e+]+)$'
    )
    match = re.search(pattern, metrics, flags=re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def test_a_redelivered_event_changes_nothing(running_app, publish, region_code):
    now = datetime.now(UTC)
    code, dept = project_code(region_code), unique_department()
    task = task_json(code, department=dept, assigned_at=now, due_at=now + days(20))
    event = approval_event(EventType.PROJECT_SUBMITTED, code, project_json(code, tasks=[task]))
    dept_headers = auth_headers("department", department=dept)

    async with running_app() as client:
        await publish(APPROVAL_PROJECTS, event)

        async def projected():
            body = await _overview(client, dept_headers)
            return body if body["projects_total"] == 1 else None

        before = await eventually(projected, what="the first delivery")
        baseline = _duplicates((await client.get("/metrics")).text, EventType.PROJECT_SUBMITTED)

        # The same event again, and a copy with the same id but other content: both are
        # recognised by their id and dropped.
        tampered = event.model_copy(
            update={
                "data": project_json(
                    code, status="rejected", tasks=[task | {"status": "withdrawn"}]
                )
            }
        )
        await publish(APPROVAL_PROJECTS, event, tampered)

        async def dropped():
            text = (await client.get("/metrics")).text
            return _duplicates(text, EventType.PROJECT_SUBMITTED) - baseline >= 2

        await eventually(dropped, what="duplicate_events_dropped_total to count both copies")
        after = await _overview(client, dept_headers)
        assert after["projects_by_status"] == before["projects_by_status"]
        assert after["by_department"] == before["by_department"]


async def test_undecodable_messages_go_to_the_dead_letter_topic(
    running_app, publish, kafka_bootstrap, region_code
):
    now = datetime.now(UTC)
    code, dept = project_code(region_code), unique_department()
    garbage_key = f"garbage-{code}"

    async with running_app() as client:
        await publish(APPROVAL_PROJECTS, f"not json {code}".encode(), key=garbage_key)
        broken = approval_event(EventType.PROJECT_SUBMITTED, code, {"project_code": code})
        await publish(APPROVAL_PROJECTS, broken)

        with TopicReader(kafka_bootstrap, dlq_topic(APPROVAL_PROJECTS)) as reader:

            def ours(records):
                return [r for r in records if r.key in (garbage_key.encode(), code.encode())]

            await reader.apoll_records_until(lambda rs: len(ours(rs)) >= 2, timeout_s=60)
            records = {r.key.decode(): json.loads(r.value) for r in ours(reader.records)}
        garbage = records[garbage_key]
        assert "not a CloudEvents 1.0 JSON document" in garbage["error"]
        assert garbage["original_topic"] == APPROVAL_PROJECTS
        assert garbage["service"] == "supervision"
        assert garbage["value"] == f"not json {code}"
        invalid = records[code]
        assert "not a valid project" in invalid["error"]
        assert invalid["value"]["id"] == broken.id

        # The consumer goes on: a good event after the bad ones is applied.
        task = task_json(code, department=dept, assigned_at=now, due_at=now + days(5))
        good = approval_event(EventType.PROJECT_SUBMITTED, code, project_json(code, tasks=[task]))
        await publish(APPROVAL_PROJECTS, good)
        dept_headers = auth_headers("department", department=dept)

        async def projected():
            return (await _overview(client, dept_headers))["projects_total"] == 1

        await eventually(projected, what="the good event after the bad ones")
        metrics = (await client.get("/metrics")).text
        assert 'dead_letters_total{service="supervision",topic="approval.projects"}' in metrics
