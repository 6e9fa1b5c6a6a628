"""Decisions from department systems over Kafka: same checks as HTTP, dead letters, duplicates."""

from __future__ import annotations

import json
from typing import Any

import pytest
from prometheus_client import REGISTRY

from shared.decision_token import AUTHTOKEN_ATTRIBUTE, mint_decision_token
from shared.events import CloudEvent, EventType, new_event
from testkit import TopicReader, aproduce_events, eventually

from conftest import ENTERPRISE_A, OPS, SECRET, Service, dept

pytestmark = pytest.mark.integration

DUPLICATES = (
    "duplicate_events_dropped_total",
    {"service": "approval", "type": "approval.decision.submitted"},
)


def decision_event(
    task: dict[str, Any],
    department: str,
    decision: str,
    *,
    authtoken: str | None = "",
    **data: Any,
) -> CloudEvent:
    """A decision signed by `department`'s token (`authtoken`: another token, None for none)."""
    event = new_event(
        type=EventType.DECISION_SUBMITTED,
        source=f"/departments/{department}",
        subject=task["project_code"],
        data={"task_id": task["task_id"], "department": department, "decision": decision, **data},
    )
    if authtoken == "":
        authtoken = mint_decision_token(SECRET, department=department)
    if authtoken is None:
        return event
    return event.model_copy(update={AUTHTOKEN_ATTRIBUTE: authtoken})


async def send(service: Service, *events: CloudEvent | bytes, key: Any = None) -> None:
    extra = {} if key is None else {"key": key}
    await aproduce_events(service.bootstrap, "approval.decisions", events, **extra)


async def _submit(service: Service) -> dict[str, Any]:
    response = await service.client.post(
        "/api/v1/projects", json=service.body(), headers=ENTERPRISE_A
    )
    assert response.status_code == 201
    return response.json()


async def _task(service: Service, task_id: str, department: str) -> dict[str, Any]:
    page = (
        await service.client.get(
            f"/api/v1/departments/{department}/tasks", headers=dept(department)
        )
    ).json()
    while True:
        for task in page["items"]:
            if task["task_id"] == task_id:
                return task
        if not page["next_cursor"]:
            raise AssertionError(f"task {task_id} not listed")
        page = (
            await service.client.get(
                f"/api/v1/departments/{department}/tasks",
                params={"cursor": page["next_cursor"]},
                headers=dept(department),
            )
        ).json()


async def test_kafka_decisions_approve_the_project(service: Service) -> None:
    project = await _submit(service)
    events = [
        decision_event(t, t["department"], "approved", opinion="ok") for t in project["tasks"]
    ]
    duplicates_before = REGISTRY.get_sample_value(*DUPLICATES) or 0.0
    await send(service, *events)
    await send(service, events[0])  # a redelivery of the same event: applied once

    async def approved() -> bool:
        current = (
            await service.client.get(f"/api/v1/projects/{project['project_code']}", headers=OPS)
        ).json()
        return current["status"] == "approved"

    await eventually(approved, what="the project approved by its Kafka decisions")
    # The redelivery was recognised (it is in another batch than the first delivery or the
    # same one: dropped either way, and counted once).
    await eventually(
        lambda: (REGISTRY.get_sample_value(*DUPLICATES) or 0.0) == duplicates_before + 1,
        what="the redelivered decision counted as a duplicate",
    )
    timeline = (
        await service.client.get(
            f"/api/v1/projects/{project['project_code']}/timeline", headers=OPS
        )
    ).json()["items"]
    assert [s["action"] for s in timeline].count("approval.decision.recorded") == 3
    metrics = (await service.client.get("/metrics")).text
    assert (
        'duplicate_events_dropped_total{service="approval",type="approval.decision.submitted"}'
        in metrics
    )


async def test_refused_kafka_decisions_go_to_the_dead_letter_topic(service: Service) -> None:
    project = await _submit(service)
    mee = next(t for t in project["tasks"] if t["department"] == "MEE")
    wrong_department = decision_event(mee, "NDRC", "approved")
    no_materials = decision_event(mee, "MEE", "supplement_required")
    unknown_task = decision_event({**mee, "task_id": "no-such-task"}, "MEE", "approved")
    good = decision_event(mee, "MEE", "approved")
    late = decision_event(mee, "MEE", "rejected")  # a second decision: task no longer pending
    await send(service, wrong_department, no_materials, unknown_task, good)
    garbage_key = f"garbage-{project['project_code']}"  # this test's own poison pill
    await send(service, b"{not json", key=garbage_key)

    async def decided() -> bool:
        return (await _task(service, mee["task_id"], "MEE"))["status"] == "approved"

    await eventually(decided, what="the valid decision applied")
    await send(service, late)
    expected = {wrong_department.id, no_materials.id, unknown_task.id, late.id}

    def dead_letters(records: list[Any]) -> list[dict[str, Any]]:
        return [json.loads(r.value) for r in records]

    def all_dead(records: list[Any]) -> bool:
        ids = {d["value"].get("id") for d in dead_letters(records) if isinstance(d["value"], dict)}
        keys = {d["key"] for d in dead_letters(records)}
        return expected <= ids and garbage_key in keys

    with TopicReader(service.bootstrap, "approval.decisions.dlq") as reader:
        records = await reader.apoll_records_until(all_dead)
    letters = {d["value"]["id"]: d for d in dead_letters(records) if isinstance(d["value"], dict)}
    assert expected <= letters.keys()
    assert "WrongDepartment" in letters[wrong_department.id]["error"]
    assert "missing_materials" in letters[no_materials.id]["error"]
    assert "TaskNotFound" in letters[unknown_task.id]["error"]
    assert "TaskNotPending" in letters[late.id]["error"]
    assert letters[late.id]["original_topic"] == "approval.decisions"
    garbage = [d for d in dead_letters(records) if d["key"] == garbage_key]
    assert [d["value"] for d in garbage] == ["{not json"], (
        "a message that is not a CloudEvent is dead-lettered too"
    )
    # The refused decisions changed nothing.
    task = await _task(service, mee["task_id"], "MEE")
    assert task["decision"] == "approved"


REFUSED = "approval_decisions_unauthenticated_total"


async def test_forged_decisions_are_dead_lettered_and_a_signed_one_applies(
    service: Service,
) -> None:
    project = await _submit(service)
    mee = next(t for t in project["tasks"] if t["department"] == "MEE")
    # Each forgery claims to be MEE's decision, which only MEE's decision token may sign.
    forged = {
        "missing": decision_event(mee, "MEE", "rejected", authtoken=None),
        "department": decision_event(
            mee, "MEE", "rejected", authtoken=mint_decision_token(SECRET, department="NDRC")
        ),
        "audience": decision_event(
            mee, "MEE", "rejected", authtoken=dept("MEE")["Authorization"].removeprefix("Bearer ")
        ),
        "invalid": decision_event(
            mee, "MEE", "rejected", authtoken=mint_decision_token("x" * 32, department="MEE")
        ),
    }
    before = {r: REGISTRY.get_sample_value(REFUSED, {"reason": r}) or 0.0 for r in forged}
    await send(service, *forged.values())
    signed = decision_event(mee, "MEE", "approved", opinion="ok")
    await send(service, signed)

    async def decided() -> dict[str, Any] | None:
        task = await _task(service, mee["task_id"], "MEE")
        return task if task["status"] != "pending" else None

    task = await eventually(decided, what="MEE's task decided")
    assert task["decision"] == "approved", "a forged rejection was applied"

    expected = {event.id: reason for reason, event in forged.items()}
    with TopicReader(service.bootstrap, "approval.decisions.dlq") as reader:
        records = await reader.apoll_records_until(
            lambda rs: expected.keys() <= {_letter_id(r) for r in rs}
        )
    letters = {_letter_id(r): json.loads(r.value) for r in records}
    for event_id, reason in expected.items():
        assert letters[event_id]["error"].startswith("unauthenticated decision"), reason
    assert "audience" in letters[forged["audience"].id]["error"]
    assert "'NDRC'" in letters[forged["department"].id]["error"]
    assert signed.id not in letters
    for reason in forged:
        after = REGISTRY.get_sample_value(REFUSED, {"reason": reason}) or 0.0
        assert after == before[reason] + 1, reason


def _letter_id(record: Any) -> str | None:
    value = json.loads(record.value).get("value")
    return value.get("id") if isinstance(value, dict) else None


async def _project(service: Service, code: str) -> dict[str, Any]:
    return (await service.client.get(f"/api/v1/projects/{code}", headers=OPS)).json()


def _serial(document_number: str) -> int:
    return int(document_number.rsplit("-", 1)[1])


@pytest.mark.parametrize("with_a_refused_one", [False, True], ids=["clean", "one-refused"])
async def test_a_batch_of_decisions_numbers_every_document_once(
    service: Service, with_a_refused_one: bool
) -> None:
    """Decisions sent together are applied together (one transaction, projects read at once,
    documents numbered from one locked sequence row), or event by event when one of them is
    refused: either way every project is approved and no document number repeats, nor is
    handed out again by a later decision."""
    projects = [await _submit(service) for _ in range(8)]
    events = [
        decision_event(t, t["department"], "approved", opinion="ok")
        for p in projects
        for t in p["tasks"]
    ]
    if with_a_refused_one:
        stray = {**projects[0]["tasks"][0], "task_id": "gone"}
        events.insert(5, decision_event(stray, stray["department"], "approved"))
    await send(service, *events)

    async def all_approved() -> bool:
        for p in projects:
            if (await _project(service, p["project_code"]))["status"] != "approved":
                return False
        return True

    await eventually(all_approved, what="every Kafka decision of the batch applied")
    # One more project decided over HTTP, one transaction per decision: its documents are
    # numbered from the sequence rows the batch left behind.
    later = await _submit(service)
    for task in later["tasks"]:
        answer = await service.client.post(
            f"/api/v1/tasks/{task['task_id']}/decision",
            json={"decision": "approved"},
            headers=dept(task["department"]),
        )
        assert answer.status_code == 200, answer.text
    numbers: dict[str, list[int]] = {}
    for p in [*projects, later]:
        current = await _project(service, p["project_code"])
        assert current["status"] == "approved"
        for task in current["tasks"]:
            assert task["document_number"], task
            numbers.setdefault(task["department"], []).append(_serial(task["document_number"]))
    for department, serials in numbers.items():
        assert len(serials) == len(set(serials)), f"{department} numbers repeat: {serials}"
