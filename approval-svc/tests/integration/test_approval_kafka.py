"""Decisions from department systems over Kafka: same checks as HTTP, dead letters, duplicates."""

from __future__ import annotations

import json
from typing import Any

import pytest
from prometheus_client import REGISTRY

from shared.events import CloudEvent, new_event
from testkit import TopicReader, aproduce_events, eventually

from conftest import ENTERPRISE_A, OPS, Service, dept

pytestmark = pytest.mark.integration

DUPLICATES = (
    "duplicate_events_dropped_total",
    {"service": "approval", "type": "approval.decision.submitted"},
)


def decision_event(task: dict[str, Any], department: str, decision: str, **data: Any) -> Any:
    return new_event(
        type="approval.decision.submitted",
        source=f"/departments/{department}",
        subject=task["project_code"],
        data={"task_id": task["task_id"], "department": department, "decision": decision, **data},
    )


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
