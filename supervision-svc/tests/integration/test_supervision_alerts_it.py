"""Alerts against the real broker and database: the overdue sweep and who sees which alert."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from shared.clock import ManualClock
from shared.events import EventType
from shared.topics import APPROVAL_PROJECTS, SUPERVISION_ALERTS
from testkit import TopicReader, auth_headers, decode, eventually

from supervision_it import (
    OPS,
    approval_event,
    days,
    project_code,
    project_json,
    task_json,
    unique_credit_code,
    unique_department,
)

pytestmark = pytest.mark.integration

SWEEPS_COMPLETED = re.compile(
    r'^supervision_sweeps_completed_total\{sweep="time_rules"\} ([0-9.e+]+)$', re.MULTILINE
)


async def _sweeps_completed(client) -> float:
    match = SWEEPS_COMPLETED.search((await client.get("/metrics")).text)
    return float(match.group(1)) if match else 0.0


async def _alerts(client, headers, **params):
    response = await client.get("/api/v1/alerts", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_overdue_sweep_raises_yellow_then_red_and_resolves_on_decision(
    running_app, publish, kafka_bootstrap, region_code
):
    start = datetime.now(UTC).replace(microsecond=0)
    clock = ManualClock(start)
    code, dept = project_code(region_code), unique_department()
    task = task_json(code, department=dept, assigned_at=start, due_at=start + days(10))
    dept_headers = auth_headers("department", department=dept)

    async with running_app(clock=clock) as client:
        submitted = project_json(code, tasks=[task])
        await publish(
            APPROVAL_PROJECTS, approval_event(EventType.PROJECT_SUBMITTED, code, submitted)
        )

        async def projected():
            response = await client.get("/api/v1/stats/overview", headers=dept_headers)
            return response.json()["by_department"][dept]["pending"] == 1

        await eventually(projected, what="the task to be projected")
        # Two sweeps completed after the projection: the second one started after it and so
        # has looked at the task (nothing is due yet).
        seen = await _sweeps_completed(client)

        async def two_more_sweeps():
            return await _sweeps_completed(client) >= seen + 2

        await eventually(two_more_sweeps, what="two runs of the time rules")
        assert (await _alerts(client, OPS, project_code=code))["items"] == []

        clock.advance(days(9.5))

        async def yellow():
            items = (await _alerts(client, OPS, project_code=code))["items"]
            return items if items else None

        [alert] = await eventually(yellow, what="a yellow card at 95 % of the limit")
        assert alert["level"] == "yellow"
        assert alert["kind"] == "approval_overdue"
        assert alert["resolved_at"] is None
        assert alert["department"] == dept
        assert alert["task_id"] == task["task_id"]
        assert dept in alert["detail"]
        assert datetime.fromisoformat(alert["raised_at"]) == start + days(9.5)

        clock.advance(days(1))

        async def red():
            items = (await _alerts(client, OPS, project_code=code))["items"]
            return items if any(a["level"] == "red" for a in items) else None

        items = await eventually(red, what="a red card past the limit")
        [escalated] = items  # one alert per task: the yellow one, escalated
        assert escalated["alert_id"] == alert["alert_id"]
        assert escalated["resolved_at"] is None
        assert escalated["raised_at"] == alert["raised_at"]
        opened = await _alerts(client, OPS, project_code=code, status="open")
        assert [a["level"] for a in opened["items"]] == ["red"]

        decided = task | {
            "status": "approved",
            "decision": "approved",
            "decided_at": (start + days(10.5)).isoformat(),
        }
        event = approval_event(EventType.DECISION_RECORDED, code, decided)
        await publish(APPROVAL_PROJECTS, event)

        async def all_resolved():
            items = (await _alerts(client, OPS, project_code=code, status="open"))["items"]
            return not items

        await eventually(all_resolved, what="the red card to be resolved by the decision")

        # Every raise and resolve went out on supervision.alerts, keyed by the project code
        # (read while the app runs: its outbox relay publishes them).
        with TopicReader(kafka_bootstrap, SUPERVISION_ALERTS) as reader:
            events = await reader.acollect(lambda e: e.subject == code, 3)
            ours = [r for r in reader.records if (e := decode(r.value)) and e.subject == code]
        assert [(e.type, e.data["level"]) for e in events] == [
            (EventType.ALERT_RAISED, "yellow"),
            (EventType.ALERT_RAISED, "red"),  # the escalation: the same alert, raised again
            (EventType.ALERT_RESOLVED, "red"),
        ]
        assert {e.data["alert_id"] for e in events} == {alert["alert_id"]}
        assert {r.key for r in ours} == {code.encode()}
        assert events[-1].causationid == event.id


async def test_each_tenant_sees_only_its_alerts(running_app, publish, region_code):
    now = datetime.now(UTC)
    codes = {"a": project_code(region_code, 1), "b": project_code(region_code, 2)}
    credit = {"a": unique_credit_code(), "b": unique_credit_code()}
    depts = {"a": unique_department(), "b": unique_department()}

    async with running_app(timer_floor_s=0.05) as client:
        for side in ("a", "b"):
            code = codes[side]
            late = task_json(
                code, department=depts[side], assigned_at=now - days(30), due_at=now - days(1)
            )
            data = project_json(code, credit_code=credit[side], tasks=[late])
            await publish(
                APPROVAL_PROJECTS, approval_event(EventType.PROJECT_SUBMITTED, code, data)
            )

        async def both_red():
            found = {}
            for side, code in codes.items():
                items = (await _alerts(client, OPS, project_code=code))["items"]
                if items:
                    found[side] = items[0]
            return found if len(found) == 2 else None

        alerts = await eventually(both_red, what="red cards for both projects")
        assert {a["level"] for a in alerts.values()} == {"red"}

        enterprise_a = auth_headers("enterprise", credit_code=credit["a"])
        seen = await _alerts(client, enterprise_a)
        assert [a["alert_id"] for a in seen["items"]] == [alerts["a"]["alert_id"]]
        assert (await _alerts(client, enterprise_a, project_code=codes["b"]))["items"] == []
        other = await client.get(f"/api/v1/alerts/{alerts['b']['alert_id']}", headers=enterprise_a)
        assert other.status_code == 404
        own = await client.get(f"/api/v1/alerts/{alerts['a']['alert_id']}", headers=enterprise_a)
        assert own.status_code == 200
        assert own.json()["project_code"] == codes["a"]

        department_b = auth_headers("department", department=depts["b"])
        seen = await _alerts(client, department_b)
        assert [a["alert_id"] for a in seen["items"]] == [alerts["b"]["alert_id"]]

        # ops sees everything, page by page
        collected, cursor = [], None
        while True:
            params = {"limit": 1, "kind": "approval_overdue", "level": "red"}
            page = await _alerts(client, OPS, **params, **({"cursor": cursor} if cursor else {}))
            assert len(page["items"]) <= 1
            collected += [a["alert_id"] for a in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(collected) == len(set(collected))
        assert {alerts["a"]["alert_id"], alerts["b"]["alert_id"]} <= set(collected)


async def test_alerts_need_a_valid_token_and_valid_parameters(running_app):
    async with running_app() as client:
        missing = await client.get("/api/v1/alerts")
        assert missing.status_code == 401
        assert missing.headers["content-type"].startswith("application/problem+json")
        assert missing.headers["www-authenticate"].startswith("Bearer")
        forged = await client.get("/api/v1/alerts", headers={"Authorization": "Bearer not.a.token"})
        assert forged.status_code == 401

        for params, field in (
            ({"level": "purple"}, "level"),
            ({"limit": 501}, "limit"),
            ({"limit": 0}, "limit"),
            ({"cursor": "!!!"}, "cursor"),
        ):
            response = await client.get("/api/v1/alerts", headers=OPS, params=params)
            assert response.status_code == 422, (params, response.text)
            body = response.json()
            assert field in body["detail"]
            assert body["errors"]
        assert (await client.get("/api/v1/alerts/nope", headers=OPS)).status_code == 404
