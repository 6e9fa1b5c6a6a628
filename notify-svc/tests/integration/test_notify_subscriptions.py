"""Subscriptions: tenant isolation, authentication, validation."""

from __future__ import annotations

import pytest
from notify_helpers import (
    Notify,
    Receiver,
    alert,
    body_json,
    credit_code,
    event,
    ops,
    project,
    project_code,
    task,
)

from shared.events import EventType
from shared.topics import APPROVAL_PROJECTS, SUPERVISION_ALERTS
from testkit import auth_headers as auth
from testkit import eventually

pytestmark = pytest.mark.integration
HOOK = "https://example.com/h"


async def test_tenants_receive_only_what_they_may_see(
    notify: Notify, receiver: Receiver, region_code: str
) -> None:
    a, b = credit_code(), credit_code()
    # Real departments: their subscriptions also get earlier tests' events (the consumer reads
    # the topics from the beginning); this test's projects have codes of its own region.
    d1, d2, d3 = "MEE", "MNR", "NDRC"
    ent_a, ent_b = auth("enterprise", credit_code=a), auth("enterprise", credit_code=b)
    mee, ndrc = auth("department", department=d1), auth("department", department=d3)
    subs = {
        name: await notify.subscribe(
            headers, channel="webhook", target=f"{receiver.base_url}/{name}", event_types=["*"]
        )
        for name, headers in (("a", ent_a), ("b", ent_b), ("mee", mee), ("ndrc", ndrc))
    }
    code_a, code_b = project_code(region_code, 1), project_code(region_code, 2)
    ours = {code_a, code_b}
    a_submitted = event(EventType.PROJECT_SUBMITTED, code_a, project(code_a, a, (d1, d2)))
    # A task event carries no credit code, an alert none either: the projection supplies it.
    a_task = event(EventType.TASK_ASSIGNED, code_a, task(code_a, d1))
    a_other_task = event(EventType.TASK_ASSIGNED, code_a, task(code_a, d2, 2))
    a_alert = event(EventType.ALERT_RAISED, code_a, alert(code_a), source="supervision-svc")
    b_submitted = event(EventType.PROJECT_SUBMITTED, code_b, project(code_b, b, (d3,)))
    await notify.produce(APPROVAL_PROJECTS, a_submitted, a_task, a_other_task, b_submitted)

    # Topics are not ordered with each other: supervision's alert follows approval's events
    # once they are known (as in life, where an alert comes long after the submission).
    async def submission_known() -> bool:
        return any(body_json(r)["id"] == a_submitted.id for r in receiver.to("/a"))

    await eventually(submission_known, what="the submission to be consumed")
    await notify.produce(SUPERVISION_ALERTS, a_alert)

    expected = {
        "a": {a_submitted.id, a_task.id, a_other_task.id, a_alert.id},
        "b": {b_submitted.id},
        # A department: its own tasks, and project events of projects it has tasks in.
        "mee": {a_submitted.id, a_task.id, a_alert.id},
        "ndrc": {b_submitted.id},
    }

    async def all_received() -> bool:
        return all(
            {body_json(r)["id"] for r in receiver.to(f"/{name}")} >= ids
            for name, ids in expected.items()
        )

    await eventually(all_received, what="every tenant's webhooks")
    # Everything up to here is ingested (a wrong extra delivery would be recorded by now).
    sentinels = {
        await notify.consumed(APPROVAL_PROJECTS, code_a),
        await notify.consumed(APPROVAL_PROJECTS, code_b),
        await notify.consumed(SUPERVISION_ALERTS, code_a),
    }
    for name, ids in expected.items():
        recorded = await notify.deliveries(ops(), subscription_id=subs[name]["id"])
        got = [
            d["event_id"]
            for d in recorded
            if d["project_code"] in ours and d["event_id"] not in sentinels
        ]
        assert sorted(got) == sorted(ids), name
        posted = [body_json(r) for r in receiver.to(f"/{name}")]
        assert {p["id"] for p in posted if p["subject"] in ours} - sentinels == ids, name

    # The delivery record follows the same lines.
    mine = await notify.deliveries(ent_a)
    assert {d["subscription_id"] for d in mine} == {subs["a"]["id"]}
    assert {d["event_id"] for d in mine} - sentinels == expected["a"]
    assert {d["event_id"] for d in await notify.deliveries(ent_b)} - sentinels == expected["b"]
    # Another tenant's subscription does not exist for B: 404, not an empty list, not 403.
    other = await notify.get("/api/v1/deliveries", ent_b, subscription_id=subs["a"]["id"])
    assert other.status_code == 404
    assert (await notify.get(f"/api/v1/subscriptions/{subs['a']['id']}", ent_b)).status_code == 404
    gone = await notify.client.delete(f"/api/v1/subscriptions/{subs['a']['id']}", headers=ent_b)
    assert gone.status_code == 404
    # Listing: own only; the secret is never shown again; ops sees all and may manage them.
    listed = (await notify.get("/api/v1/subscriptions", ent_a)).json()["items"]
    assert [s["id"] for s in listed] == [subs["a"]["id"]]
    assert "secret" not in listed[0]
    everyone = (await notify.get("/api/v1/subscriptions", ops())).json()["items"]
    assert {s["id"] for s in subs.values()} | {"builtin-log"} <= {s["id"] for s in everyone}
    ops_delete = await notify.client.delete(
        f"/api/v1/subscriptions/{subs['a']['id']}", headers=ops()
    )
    assert ops_delete.status_code == 204
    assert (await notify.get(f"/api/v1/subscriptions/{subs['a']['id']}", ent_a)).status_code == 404


async def test_a_deleted_subscription_receives_nothing_more(
    notify: Notify, region_code: str
) -> None:
    credit = credit_code()
    ent = auth("enterprise", credit_code=credit)
    sub = await notify.subscribe(
        ent, channel="email", target="ops@example.com", event_types=["project.approved"]
    )
    code = project_code(region_code)
    first = event(EventType.PROJECT_APPROVED, code, project(code, credit))
    await notify.produce(APPROVAL_PROJECTS, first)

    async def delivered() -> list[dict[str, object]]:
        items = await notify.deliveries(ent, subscription_id=sub["id"])
        return [i for i in items if i["status"] == "delivered"]

    [mail] = await eventually(delivered, what="the e-mail delivery")
    assert mail["channel"] == "email"
    assert mail["target"] == "ops@example.com"
    [attempt] = mail["attempt_log"]  # type: ignore[misc]
    assert "no mail server" in attempt["detail"]

    deleted = await notify.client.delete(f"/api/v1/subscriptions/{sub['id']}", headers=ent)
    assert deleted.status_code == 204
    second = event(EventType.PROJECT_APPROVED, code, project(code, credit))
    await notify.produce(APPROVAL_PROJECTS, second)

    async def logged() -> list[dict[str, object]]:
        return await notify.deliveries(ops(), event_type="project.approved", project_code=code)

    await eventually(lambda: _count(logged, 2), what="the second event to be consumed")
    mine = await notify.deliveries(ent, subscription_id=sub["id"])
    assert [i["event_id"] for i in mine] == [first.id]
    listed = (await notify.get("/api/v1/subscriptions", ent)).json()["items"]
    assert listed == []


async def _count(probe, n: int) -> bool:
    return len(await probe()) >= n


async def test_requests_without_a_valid_token_are_401(notify: Notify) -> None:
    for method, path in (
        ("GET", "/api/v1/deliveries"),
        ("GET", "/api/v1/subscriptions"),
        ("POST", "/api/v1/subscriptions"),
        ("DELETE", "/api/v1/subscriptions/x"),
        ("GET", "/api/v1/stream"),
    ):
        response = await notify.client.request(method, path)
        assert response.status_code == 401, (method, path)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["status"] == 401
    forged = {"Authorization": "Bearer not-a-token"}
    assert (await notify.get("/api/v1/deliveries", forged)).status_code == 401
    health = await notify.client.get("/healthz")
    assert health.status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"channel": "webhook", "target": "ftp://example.com/x", "event_types": ["*"]}, "target"),
        ({"channel": "webhook", "target": "not a url", "event_types": ["*"]}, "target"),
        ({"channel": "email", "target": "nobody-at-example.com", "event_types": ["*"]}, "target"),
        (
            {"channel": "webhook", "target": "https://example.com/h", "event_types": []},
            "event_types",
        ),
        (
            {
                "channel": "webhook",
                "target": "https://example.com/h",
                "event_types": ["project.eaten"],
            },
            "event_types",
        ),
        ({"channel": "sms", "target": "+8613800000000", "event_types": ["*"]}, "channel"),
        ({"channel": "webhook", "event_types": ["*"]}, "target"),
        ({"channel": "webhook", "target": "https://example.com/h"}, "event_types"),
    ],
)
async def test_a_bad_subscription_is_422_naming_the_field(
    notify: Notify, body: dict[str, object], field: str
) -> None:
    ent = auth("enterprise", credit_code=credit_code())
    response = await notify.client.post("/api/v1/subscriptions", headers=ent, json=body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in problem["detail"]
    assert any(field in e["loc"] for e in problem["errors"])
    # Nothing was created.
    assert (await notify.get("/api/v1/subscriptions", ent)).json()["items"] == []
