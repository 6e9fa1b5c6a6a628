"""Walking skeleton: a project submitted on approval-svc shows up in supervision-svc.

Both real apps run in this process against the same broker, each on its own fresh database;
nothing connects them but the `approval.projects` topic.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import select

import approval_svc
from approval_svc.app import create_app as create_approval_app
from approval_svc.settings import get_approval_settings
from shared.db import make_engine
from shared.migrations import upgrade
from supervision_svc.models import ProjectView, TaskView
from testkit import TEST_JWT_SECRET, auth_headers, eventually, unique_group

from supervision_it import OPS

pytestmark = pytest.mark.integration

CREDIT_CODE = "91440300708461136T"
SUBMISSION = {
    "name": "Riverside logistics park",
    "industry_code": "G5411",
    "procedure": "verification",
    "total_investment": "250000000.00",
    "location": "Shenzhen, Bao'an district",
    "planned_start": "2027-04-01",
    "description": "Warehousing and a rail spur",
    "eia_category": "report",
    "building_area_m2": 12000,
}


async def _projected(url: str, code: str) -> tuple[ProjectView | None, list[TaskView]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            project = (
                await conn.execute(select(ProjectView).where(ProjectView.project_code == code))
            ).first()
            tasks = (
                await conn.execute(select(TaskView).where(TaskView.project_code == code))
            ).all()
    finally:
        await engine.dispose()
    return project, list(tasks)  # type: ignore[arg-type]


async def test_a_project_submitted_on_approval_shows_up_here(
    running_app, kafka_bootstrap, database_factory, database_url, region_code
):
    approval_url = database_factory("approval")
    upgrade(Path(approval_svc.__file__).parent / "migrations", approval_url)
    approval = create_approval_app(
        get_approval_settings(
            database_url=approval_url,
            kafka_bootstrap_servers=kafka_bootstrap,
            consumer_group=unique_group("approval-for-supervision"),
            jwt_secret=TEST_JWT_SECRET,
            outbox_poll_interval_s=0.1,
            log_json=False,
        )
    )
    async with (
        running_app() as supervision,
        LifespanManager(approval, startup_timeout=60, shutdown_timeout=60),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=approval), base_url="http://approval"
        ) as approval_client,
    ):
        response = await approval_client.post(
            "/api/v1/projects",
            json=SUBMISSION | {"region_code": region_code},
            headers=auth_headers("enterprise", credit_code=CREDIT_CODE),
        )
        assert response.status_code == 201, response.text
        submitted = response.json()
        code = submitted["project_code"]

        async def projected():
            project, tasks = await _projected(database_url, code)
            return (project, tasks) if project and len(tasks) == len(submitted["tasks"]) else None

        project, tasks = await eventually(projected, what=f"{code} in supervision's tables")
        assert project.status == submitted["status"]
        assert project.credit_code == CREDIT_CODE
        assert {t.task_id for t in tasks} == {t["task_id"] for t in submitted["tasks"]}

        overview = (await supervision.get("/api/v1/stats/overview", headers=OPS)).json()
        assert overview["projects_by_status"][submitted["status"]] >= 1
        for task in submitted["tasks"]:
            assert overview["by_department"][task["department"]]["pending"] >= 1

        # A department decides on approval-svc: the decision reaches supervision too.
        task = submitted["tasks"][0]
        decided = await approval_client.post(
            f"/api/v1/tasks/{task['task_id']}/decision",
            json={"decision": "approved", "opinion": "complies"},
            headers=auth_headers("department", department=task["department"]),
        )
        assert decided.status_code == 200, decided.text

        async def decision_projected():
            _, rows = await _projected(database_url, code)
            return [t for t in rows if t.task_id == task["task_id"] and t.status == "approved"]

        [row] = await eventually(decision_projected, what="the decision in supervision")
        assert row.decision == "approved"
        assert row.decision_seconds is not None
