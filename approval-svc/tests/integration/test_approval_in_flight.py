"""`projects_in_flight{status}`: open projects counted in the database, exported on /metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from testkit import eventually

from conftest import ENTERPRISE_A, Service, dept

pytestmark = pytest.mark.integration


@pytest.fixture
async def recounting(
    approval_factory: Callable[..., FastAPI], kafka_bootstrap: str, region_code: str
) -> AsyncIterator[Service]:
    """The service with the gauge recounted every 0.2 s instead of every 15 s."""
    app = approval_factory(in_flight_interval_s=0.2)
    async with (
        LifespanManager(app, startup_timeout=30, shutdown_timeout=60),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://approval"
        ) as client,
    ):
        yield Service(app, client, app.state.database_url, kafka_bootstrap, region_code)


async def in_flight(service: Service) -> dict[str, float]:
    text = (await service.client.get("/metrics")).text
    return {
        s.labels["status"]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "projects_in_flight"
    }


async def submit(service: Service) -> dict[str, Any]:
    response = await service.client.post(
        "/api/v1/projects", json=service.body(), headers=ENTERPRISE_A
    )
    assert response.status_code == 201, response.text
    project: dict[str, Any] = response.json()
    return project


async def decide(service: Service, task: dict[str, Any], decision: str, **body: Any) -> None:
    response = await service.client.post(
        f"/api/v1/tasks/{task['task_id']}/decision",
        json={"decision": decision, **body},
        headers=dept(task["department"]),
    )
    assert response.status_code == 200, response.text


async def test_open_projects_are_counted_by_status(recounting: Service) -> None:
    service = recounting  # a fresh database: its projects are the only ones

    def recounted(expected: dict[str, float]) -> Callable[[], Any]:
        async def check() -> bool:
            return await in_flight(service) == expected

        return check

    zero = {"submitted": 0.0, "in_review": 0.0, "supplement_required": 0.0}
    await eventually(recounted(zero), timeout_s=10, what="the gauge exported, all zero")

    approved = await submit(service)
    await submit(service)  # stays in review
    supplement = await submit(service)
    for task in approved["tasks"]:
        await decide(service, task, "approved")
    await decide(service, supplement["tasks"][0], "supplement_required", missing_materials=["map"])

    expected = {"submitted": 0.0, "in_review": 1.0, "supplement_required": 1.0}
    await eventually(recounted(expected), timeout_s=10, what=f"projects_in_flight == {expected}")
