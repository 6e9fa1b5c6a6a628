"""Decisions from department systems over Kafka: same checks as HTTP, dead letters, duplicates."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from kafka import KafkaProducer

from shared.events import new_event

from conftest import ENTERPRISE_A, OPS, Service, dept, project_body, read_topic

pytestmark = pytest.mark.integration


def decision_event(task: dict[str, Any], department: str, decision: str, **data: Any) -> Any:
    return new_event(
        type="approval.decision.submitted",
        source=f"/departments/{department}",
        subject=task["project_code"],
        data={"task_id": task["task_id"], "department": department, "decision": decision, **data},
    )


def send(producer: KafkaProducer, event: Any) -> None:
    producer.send("approval.decisions", value=event.to_json(), key=event.subject.encode()).get(
        timeout=10
    )


async def wait_for(check: Any, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.2)


async def _submit(service: Service) -> dict[str, Any]:
    response = await service.client.post(
        "/api/v1/projects", json=project_body(), headers=ENTERPRISE_A
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


async def test_kafka_decisions_approve_the_project(
    service: Service, producer: KafkaProducer
) -> None:
    project = await _submit(service)
    events = [
        decision_event(t, t["department"], "approved", opinion="ok") for t in project["tasks"]
    ]
    for event in events:
        send(producer, event)
    send(producer, events[0])  # a redelivery of the same event: applied once

    async def approved() -> bool:
        current = (
            await service.client.get(f"/api/v1/projects/{project['project_code']}", headers=OPS)
        ).json()
        return current["status"] == "approved"

    assert await wait_for(approved)
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


async def test_refused_kafka_decisions_go_to_the_dead_letter_topic(
    service: Service, producer: KafkaProducer
) -> None:
    project = await _submit(service)
    mee = next(t for t in project["tasks"] if t["department"] == "MEE")
    wrong_department = decision_event(mee, "NDRC", "approved")
    no_materials = decision_event(mee, "MEE", "supplement_required")
    unknown_task = decision_event({**mee, "task_id": "no-such-task"}, "MEE", "approved")
    good = decision_event(mee, "MEE", "approved")
    late = decision_event(mee, "MEE", "rejected")  # a second decision: task no longer pending
    for event in (wrong_department, no_materials, unknown_task, good):
        send(producer, event)
    producer.send("approval.decisions", value=b"{not json", key=b"garbage").get(timeout=10)

    async def decided() -> bool:
        return (await _task(service, mee["task_id"], "MEE"))["status"] == "approved"

    assert await wait_for(decided)
    send(producer, late)
    expected = {wrong_department.id, no_materials.id, unknown_task.id, late.id}

    def all_dead(records: list[Any]) -> bool:
        ids = {
            json.loads(r.value)["value"].get("id")
            for r in records
            if isinstance(json.loads(r.value)["value"], dict)
        }
        return expected <= ids

    records = await read_topic(service.bootstrap, "approval.decisions.dlq", until=all_dead)
    letters = {
        json.loads(r.value)["value"]["id"]: json.loads(r.value)
        for r in records
        if isinstance(json.loads(r.value)["value"], dict)
    }
    assert expected <= letters.keys()
    assert "WrongDepartment" in letters[wrong_department.id]["error"]
    assert "missing_materials" in letters[no_materials.id]["error"]
    assert "TaskNotFound" in letters[unknown_task.id]["error"]
    assert "TaskNotPending" in letters[late.id]["error"]
    assert letters[late.id]["original_topic"] == "approval.decisions"
    assert any(json.loads(r.value)["value"] == "{not json" for r in records), (
        "a message that is not a CloudEvent is dead-lettered too"
    )
    # The refused decisions changed nothing.
    task = await _task(service, mee["task_id"], "MEE")
    assert task["decision"] == "approved"
