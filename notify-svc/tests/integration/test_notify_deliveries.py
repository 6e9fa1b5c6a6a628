"""Events from Kafka become deliveries: the log channel, signed webhooks, retries, dedupe."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from kafka import KafkaConsumer
from notify_helpers import (
    MAX_ATTEMPTS,
    OPS,
    Notify,
    Receiver,
    auth,
    body_json,
    credit_code,
    event,
    eventually,
    project,
    project_code,
)

from notify_svc.domain import signature_valid
from shared.topics import APPROVAL_PROJECTS, NOTIFY_DELIVERIES

pytestmark = pytest.mark.integration


async def test_project_submitted_yields_a_log_delivery(notify: Notify) -> None:
    credit = credit_code()
    code = project_code()
    submitted = event("project.submitted", code, project(code, credit, ("MEE",)))
    await notify.produce(APPROVAL_PROJECTS, submitted)

    async def delivered() -> list[dict[str, object]]:
        return await notify.deliveries(auth(**OPS), project_code=code)

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
    assert (
        await notify.deliveries(auth(**OPS), event_type="project.approved", project_code=code) == []
    )
    assert await notify.deliveries(auth(**OPS), subscription_id="builtin-log", project_code=code)
    assert await notify.deliveries(auth("enterprise", credit_code=credit)) == []


async def test_webhook_is_signed_and_a_failing_target_is_retried_then_failed(
    notify: Notify, receiver: Receiver
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
    code = project_code()
    submitted = event("project.submitted", code, project(code, credit, ("NDRC",)))
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
    seen = await asyncio.to_thread(_announcements, notify.bootstrap, set(wanted))
    assert seen == wanted


def _announcements(bootstrap: str, delivery_ids: set[str], timeout: float = 30.0) -> dict[str, str]:
    consumer = KafkaConsumer(
        NOTIFY_DELIVERIES,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
    )
    found: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and set(found) != delivery_ids:
            for message in consumer:
                value = json.loads(message.value)
                data = value.get("data") or {}
                if data.get("delivery_id") in delivery_ids:
                    found[data["delivery_id"]] = value["type"]
                    assert value["source"] == "/notify-svc"
                    assert data["status"] == value["type"].split(".")[1]
    finally:
        consumer.close()
    return found


async def test_a_redelivered_event_yields_no_second_delivery(
    notify: Notify, receiver: Receiver
) -> None:
    credit = credit_code()
    enterprise = auth("enterprise", credit_code=credit)
    sub = await notify.subscribe(
        enterprise, channel="webhook", target=f"{receiver.base_url}/dup", event_types=["*"]
    )
    code = project_code()
    submitted = event("project.submitted", code, project(code, credit))
    approved = event("project.approved", code, project(code, credit))
    # The same event twice (a producer retry), then a later event on the same key/partition.
    await notify.produce(APPROVAL_PROJECTS, submitted, submitted)
    await notify.produce(APPROVAL_PROJECTS, submitted, approved)

    async def both_delivered() -> list[dict[str, object]]:
        items = await notify.deliveries(enterprise, subscription_id=sub["id"])
        done = [i for i in items if i["status"] == "delivered"]
        return done if len(done) >= 2 else []

    await eventually(both_delivered, what="both webhook deliveries")
    await asyncio.sleep(1.0)  # anything extra would have arrived by now
    mine = await notify.deliveries(enterprise, subscription_id=sub["id"])
    assert sorted(i["event_id"] for i in mine) == sorted([submitted.id, approved.id])
    logged = await notify.deliveries(auth(**OPS), subscription_id="builtin-log", project_code=code)
    assert sorted(i["event_id"] for i in logged) == sorted([submitted.id, approved.id])
    assert [body_json(r)["id"] for r in receiver.to("/dup")].count(submitted.id) == 1


async def test_deliveries_are_paginated(notify: Notify) -> None:
    credit = credit_code()
    code = project_code()
    events = [event("project.submitted", code, project(code, credit))] + [
        event("project.supplement_provided", code, project(code, credit)) for _ in range(4)
    ]
    await notify.produce(APPROVAL_PROJECTS, *events)

    async def all_five() -> list[dict[str, object]]:
        items = await notify.deliveries(auth(**OPS), project_code=code)
        return items if len(items) == 5 else []

    await eventually(all_five, what="five deliveries")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"project_code": code, "limit": 2} | ({"cursor": cursor} if cursor else {})
        response = await notify.get("/api/v1/deliveries", auth(**OPS), **params)
        assert response.status_code == 200
        page = response.json()
        seen += [i["event_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(e.id for e in events)
    bad = await notify.get("/api/v1/deliveries", auth(**OPS), cursor="nonsense!")
    assert bad.status_code == 422
    assert "cursor" in bad.json()["detail"]
    too_big = await notify.get("/api/v1/deliveries", auth(**OPS), limit=501)
    assert too_big.status_code == 422
    assert "limit" in too_big.json()["detail"]
