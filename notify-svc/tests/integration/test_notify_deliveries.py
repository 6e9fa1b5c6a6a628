"""Events from Kafka become deliveries: the log channel, signed webhooks, retries, dedupe."""

from __future__ import annotations

import pytest
from notify_helpers import (
    MAX_ATTEMPTS,
    Notify,
    Receiver,
    body_json,
    credit_code,
    event,
    ops,
    project,
    project_code,
)

from notify_svc.domain import signature_valid
from shared.events import EventType
from shared.topics import APPROVAL_PROJECTS, NOTIFY_DELIVERIES
from testkit import TopicReader, eventually
from testkit import auth_headers as auth

pytestmark = pytest.mark.integration


async def test_project_submitted_yields_a_log_delivery(notify: Notify, region_code: str) -> None:
    credit = credit_code()
    code = project_code(region_code)
    submitted = event(EventType.PROJECT_SUBMITTED, code, project(code, credit, ("MEE",)))
    await notify.produce(APPROVAL_PROJECTS, submitted)

    async def delivered() -> list[dict[str, object]]:
        return await notify.deliveries(ops(), project_code=code)

    items = await eventually(delivered, what="the log delivery")
    assert len(items) == 1
    item = items[0]
    assert item["subscription_id"] == "builtin-log"
    assert item["event_id"] == submitted.id
    assert item["event_type"] == "project.submitted"
    assert item["project_code"] == code
    assert (item["channel"], item["target"]) == ("log", "log")
    assert (item["status"], item["attempts"], item["error"]) == ("delivered", 1, None)
    # The filters narrow; the log channel's deliveries are ops' to see, not the enterprise's.
    assert await notify.deliveries(ops(), event_type="project.approved", project_code=code) == []
    assert await notify.deliveries(ops(), subscription_id="builtin-log", project_code=code)
    assert await notify.deliveries(auth("enterprise", credit_code=credit)) == []


async def test_webhook_is_signed_and_a_failing_target_is_retried_then_failed(
    notify: Notify, receiver: Receiver, region_code: str
) -> None:
    credit = credit_code()
    enterprise = auth("enterprise", credit_code=credit)
    good = await notify.subscribe(
        enterprise,
        channel="webhook",
        target=f"{receiver.base_url}/hook",
        event_types=["project.submitted"],
    )
    bad = await notify.subscribe(
        enterprise, channel="webhook", target=f"{receiver.base_url}/fail", event_types=["*"]
    )
    assert good["secret"]
    assert good["secret"] != bad["secret"]
    code = project_code(region_code)
    submitted = event(EventType.PROJECT_SUBMITTED, code, project(code, credit, ("NDRC",)))
    await notify.produce(APPROVAL_PROJECTS, submitted)

    async def posted() -> list[object]:
        return receiver.to("/hook")  # type: ignore[return-value]

    await eventually(posted, what="the webhook POST")
    [request] = receiver.to("/hook")
    assert request.headers["content-type"] == "application/cloudevents+json"
    assert signature_valid(good["secret"], request.body, request.headers["x-signature"])
    assert not signature_valid(bad["secret"], request.body, request.headers["x-signature"])
    sent = body_json(request)
    assert (sent["id"], sent["type"], sent["subject"]) == (submitted.id, "project.submitted", code)
    assert sent["data"]["credit_code"] == credit

    async def good_delivery() -> list[dict[str, object]]:
        items = await notify.deliveries(enterprise, subscription_id=good["id"])
        return [i for i in items if i["status"] == "delivered"]

    [ok] = await eventually(good_delivery, what="the delivered status")
    assert ok["attempts"] == 1
    assert ok["error"] is None
    assert ok["event_id"] == submitted.id

    async def bad_delivery() -> list[dict[str, object]]:
        items = await notify.deliveries(enterprise, subscription_id=bad["id"])
        return [i for i in items if i["status"] == "failed"]

    [failed] = await eventually(bad_delivery, what="the failed status")
    assert failed["attempts"] == MAX_ATTEMPTS
    assert "HTTP 500" in str(failed["error"])
    log = failed["attempt_log"]
    assert isinstance(log, list)
    assert [a["attempt"] for a in log] == [1, 2, 3]
    assert all(a["status"] == "failed" and a["status_code"] == 500 for a in log)
    assert len(receiver.to("/fail")) == MAX_ATTEMPTS
    for r in receiver.to("/fail"):
        assert signature_valid(bad["secret"], r.body, r.headers["x-signature"])

    # Both outcomes are announced on notify.deliveries (through the outbox).
    wanted = {
        ok["delivery_id"]: "notification.delivered",
        failed["delivery_id"]: "notification.failed",
    }
    with TopicReader(notify.bootstrap, NOTIFY_DELIVERIES) as reader:
        announced = await reader.acollect(
            lambda e: isinstance(e.data, dict) and e.data.get("delivery_id") in wanted, 2
        )
    assert {e.data["delivery_id"]: e.type for e in announced} == wanted
    for e in announced:
        assert e.source == "/notify-svc"
        assert e.data["status"] == e.type.split(".")[1]
        assert e.causationid == submitted.id


async def test_a_redelivered_event_yields_no_second_delivery(
    notify: Notify, receiver: Receiver, region_code: str
) -> None:
    credit = credit_code()
    enterprise = auth("enterprise", credit_code=credit)
    sub = await notify.subscribe(
        enterprise, channel="webhook", target=f"{receiver.base_url}/dup", event_types=["*"]
    )
    code = project_code(region_code)
    submitted = event(EventType.PROJECT_SUBMITTED, code, project(code, credit))
    approved = event(EventType.PROJECT_APPROVED, code, project(code, credit))
    # The same event twice (a producer retry), then a later event on the same key/partition.
    await notify.produce(APPROVAL_PROJECTS, submitted, submitted)
    await notify.produce(APPROVAL_PROJECTS, submitted, approved)
    # Every copy is ingested once the sentinel after them is (same key, same partition).
    sentinel = await notify.consumed(APPROVAL_PROJECTS, code)

    async def all_delivered() -> list[dict[str, object]]:
        items = await notify.deliveries(enterprise, subscription_id=sub["id"])
        done = [i for i in items if i["status"] == "delivered"]
        return done if len(done) == len(items) else []

    mine = await eventually(all_delivered, what="the webhook deliveries")
    assert sorted(i["event_id"] for i in mine) == sorted([submitted.id, approved.id, sentinel])
    logged = await notify.deliveries(ops(), subscription_id="builtin-log", project_code=code)
    assert sorted(i["event_id"] for i in logged) == sorted([submitted.id, approved.id, sentinel])
    assert [body_json(r)["id"] for r in receiver.to("/dup")].count(submitted.id) == 1


async def test_deliveries_are_paginated(notify: Notify, region_code: str) -> None:
    credit = credit_code()
    code = project_code(region_code)
    events = [event(EventType.PROJECT_SUBMITTED, code, project(code, credit))] + [
        event(EventType.PROJECT_SUPPLEMENT_PROVIDED, code, project(code, credit)) for _ in range(4)
    ]
    await notify.produce(APPROVAL_PROJECTS, *events)

    async def all_five() -> list[dict[str, object]]:
        items = await notify.deliveries(ops(), project_code=code)
        return items if len(items) == 5 else []

    await eventually(all_five, what="five deliveries")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"project_code": code, "limit": 2} | ({"cursor": cursor} if cursor else {})
        response = await notify.get("/api/v1/deliveries", ops(), **params)
        assert response.status_code == 200
        page = response.json()
        seen += [i["event_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(e.id for e in events)
    bad = await notify.get("/api/v1/deliveries", ops(), cursor="nonsense!")
    assert bad.status_code == 422
    assert "cursor" in bad.json()["detail"]
    too_big = await notify.get("/api/v1/deliveries", ops(), limit=501)
    assert too_big.status_code == 422
    assert "limit" in too_big.json()["detail"]
