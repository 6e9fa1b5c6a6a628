"""Joint punishment through the real broker: supervision's `credit.status.changed` events on
`supervision.alerts` decide what a submission gets (refused, flagged, or plain)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.events import CloudEvent, EventType, new_event
from shared.topics import APPROVAL_PROJECTS, SUPERVISION_ALERTS
from testkit import TopicReader, aproduce_events, auth_headers, eventually

from conftest import Service, dept, unique_credit_code

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def status_changed(credit: str, status: str, previous: str, at: datetime) -> CloudEvent:
    return new_event(
        type=EventType.CREDIT_STATUS_CHANGED,
        source="/supervision",
        subject=credit,
        data={
            "credit_code": credit,
            "status": status,
            "previous_status": previous,
            "changed_at": at.isoformat(),
        },
    )


async def publish_and_wait(service: Service, *events: CloudEvent) -> None:
    """Publish `events` and wait until approval has applied them: all go under one key (one
    partition, applied in order) followed by a sentinel making a fresh enterprise abnormal;
    once a submission of that enterprise comes back flagged, everything before it was applied."""
    sentinel = unique_credit_code()
    marker = status_changed(sentinel, "abnormal", "normal", T0)
    key = events[0].subject if events else sentinel
    await aproduce_events(service.bootstrap, SUPERVISION_ALERTS, [*events, marker], key=key)

    async def sentinel_flagged() -> bool:
        response = await submit(service, sentinel)
        assert response.status_code == 201, response.text
        return response.json()["credit_flag"] == "abnormal"

    await eventually(sentinel_flagged, timeout_s=30, what="the sentinel credit status applied")


async def submit(service: Service, credit: str, **headers: str) -> Any:
    return await service.client.post(
        "/api/v1/projects",
        json=service.body(),
        headers=auth_headers("enterprise", credit_code=credit) | headers,
    )


async def test_a_dishonest_enterprise_is_refused_and_another_accepted(service: Service) -> None:
    dishonest, honest = unique_credit_code(), unique_credit_code()
    # An alert on the same topic is not for this consumer: ignored, not dead-lettered.
    alert = new_event(
        type=EventType.ALERT_RAISED,
        source="/supervision",
        subject=dishonest,
        data={"alert_id": "a1", "project_code": "2603-440300-54-02-000017",
              "kind": "start_overdue", "level": "yellow", "raised_at": T0.isoformat(),
              "detail": "no start report"},
    )  # fmt: skip
    await publish_and_wait(service, alert, status_changed(dishonest, "dishonest", "abnormal", T0))

    response = await submit(service, dishonest, **{"Idempotency-Key": "first-try"})
    assert response.status_code == 403, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["type"].endswith("/dishonest-enterprise")
    assert problem["status"] == 403
    assert "dishonest list" in problem["detail"]
    # Nothing was created: the enterprise has no project, and the key was not consumed.
    listed = await service.client.get(
        "/api/v1/projects", headers=auth_headers("enterprise", credit_code=dishonest)
    )
    assert listed.json()["items"] == []

    accepted = await submit(service, honest)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["credit_flag"] is None

    # Corrected later: a newer `normal` lets it submit, with the very key refused before.
    await publish_and_wait(
        service, status_changed(dishonest, "normal", "dishonest", T0 + timedelta(days=1))
    )
    again = await submit(service, dishonest, **{"Idempotency-Key": "first-try"})
    assert again.status_code == 201, again.text
    assert "Idempotent-Replayed" not in again.headers


async def test_an_older_change_arriving_late_does_not_win(service: Service) -> None:
    credit = unique_credit_code()
    newer = status_changed(credit, "normal", "dishonest", T0 + timedelta(days=2))
    older = status_changed(credit, "dishonest", "normal", T0)
    await publish_and_wait(service, newer, older)
    accepted = await submit(service, credit)
    assert accepted.status_code == 201, accepted.text


async def test_an_abnormal_enterprise_is_flagged_everywhere_departments_look(
    service: Service,
) -> None:
    credit = unique_credit_code()
    await publish_and_wait(service, status_changed(credit, "abnormal", "normal", T0))
    response = await submit(service, credit)
    assert response.status_code == 201, response.text
    project = response.json()
    assert project["credit_flag"] == "abnormal"
    code = project["project_code"]
    assert project["tasks"]
    assert {t["credit_flag"] for t in project["tasks"]} == {"abnormal"}
    fetched = (
        await service.client.get(
            f"/api/v1/projects/{code}", headers=auth_headers("enterprise", credit_code=credit)
        )
    ).json()
    assert fetched["credit_flag"] == "abnormal"
    for task in project["tasks"]:
        department = task["department"]
        listed = (
            await service.client.get(
                f"/api/v1/departments/{department}/tasks", headers=dept(department)
            )
        ).json()["items"]
        mine = [t for t in listed if t["task_id"] == task["task_id"]]
        assert mine
        assert mine[0]["credit_flag"] == "abnormal"
    with TopicReader(service.bootstrap, APPROVAL_PROJECTS) as reader:
        events = await reader.acollect(
            lambda e: e.subject == code, 1 + len(project["tasks"]), timeout_s=30
        )
    for event in events:
        assert event.data["credit_flag"] == "abnormal", event.type
