"""The approval API through HTTP, on the real database and broker."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from approval_svc.models import Project
from shared.db import make_engine
from shared.events import CloudEvent
from testkit import TopicReader

from conftest import CREDIT_A, ENTERPRISE_A, ENTERPRISE_B, OPS, Service, dept

pytestmark = pytest.mark.integration


def of(events: list[CloudEvent], project: dict) -> list[CloudEvent]:
    """The events of this project (its code is this test's own: see `Service.region`)."""
    return [e for e in events if e.subject == project["project_code"]]


async def _submit(service: Service, **overrides: object) -> dict:
    response = await service.client.post(
        "/api/v1/projects", json=service.body(**overrides), headers=ENTERPRISE_A
    )
    assert response.status_code == 201, response.text
    return response.json()


async def _count_projects(url: str) -> int:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(Project))).scalar_one())
    finally:
        await engine.dispose()


async def test_submission_assigns_code_and_parallel_tasks(service: Service) -> None:
    project = await _submit(service)
    code = project["project_code"]
    assert len(code) == 24
    assert code.split("-")[1] == service.region
    assert project["status"] == "in_review"
    assert project["credit_code"] == CREDIT_A
    assert project["total_investment"] == "250000000.00"
    departments = sorted(t["department"] for t in project["tasks"])
    assert departments == ["MEE", "MOHURD", "NDRC"]
    for task in project["tasks"]:
        assert task["status"] == "pending"
        assert task["assigned_at"] == project["tasks"][0]["assigned_at"]  # all at once
        assert task["promised_due_at"] <= task["due_at"]

    with TopicReader(service.bootstrap, "approval.projects") as reader:
        events = of(await reader.aread_until(lambda es: len(of(es, project)) >= 4), project)
        records = [r for r in reader.records if r.key == code.encode()]
    assert [e.type for e in events] == ["project.submitted"] + ["approval.task.assigned"] * 3
    assert len(records) == 4  # keyed by the project code
    for event in events:
        assert event.specversion == "1.0"
        assert event.correlationid
    with TopicReader(service.bootstrap, "approval.tasks.MEE") as reader:
        mee = of(await reader.aread_until(lambda es: len(of(es, project)) >= 1), project)
    assert [e.data["matter_code"] for e in mee] == ["MEE-EIA-REPORT"]


async def test_a_contact_email_is_kept_returned_and_carried_in_events(service: Service) -> None:
    project = await _submit(service, contact_email="owner@example.cn")
    assert project["contact_email"] == "owner@example.cn"
    fetched = await service.client.get(
        f"/api/v1/projects/{project['project_code']}", headers=ENTERPRISE_A
    )
    assert fetched.json()["contact_email"] == "owner@example.cn"
    with TopicReader(service.bootstrap, "approval.projects") as reader:
        [submitted] = [
            e
            for e in of(await reader.aread_until(lambda es: len(of(es, project)) >= 1), project)
            if e.type == "project.submitted"
        ]
    assert submitted.data["contact_email"] == "owner@example.cn"
    assert (await _submit(service))["contact_email"] is None  # optional


async def test_plain_filing_is_filed_at_once(service: Service) -> None:
    project = await _submit(
        service, procedure="filing", eia_category="registration", building_area_m2=None
    )
    assert project["status"] == "filed"
    assert project["tasks"] == []
    assert project["project_code"].split("-")[3] == "03"


async def test_bad_input_is_422_naming_the_field_and_creates_nothing(service: Service) -> None:
    before = await _count_projects(service.database_url)
    cases = {
        "region_code": {"region_code": "999999"},
        "total_investment": {"total_investment": "-5"},
        "procedure": {"procedure": "approve-please"},
        "hazardous_chemical": {"hazardous_chemical": True},
        "planned_start": {"planned_start": "next spring"},
        "industry_code": {"industry_code": "ZZ"},
        "contact_email": {"contact_email": "not an address"},
    }
    for field, override in cases.items():
        response = await service.client.post(
            "/api/v1/projects", json=service.body(**override), headers=ENTERPRISE_A
        )
        assert response.status_code == 422, (field, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert {"type", "title", "status", "detail", "errors"} <= problem.keys()
        assert field in problem["detail"]
        assert any(field in e["loc"] for e in problem["errors"])
    missing = service.body()
    del missing["name"]
    response = await service.client.post("/api/v1/projects", json=missing, headers=ENTERPRISE_A)
    assert response.status_code == 422
    assert ["body", "name"] in [e["loc"] for e in response.json()["errors"]]
    assert await _count_projects(service.database_url) == before


async def test_idempotency_key_replays_the_first_response(service: Service) -> None:
    headers = {**ENTERPRISE_A, "Idempotency-Key": "order-42"}
    first = await service.client.post("/api/v1/projects", json=service.body(), headers=headers)
    again = await service.client.post("/api/v1/projects", json=service.body(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other_body = await service.client.post(
        "/api/v1/projects", json=service.body(name="Different"), headers=headers
    )
    assert other_body.status_code == 422
    # Concurrent retries with one key still create one project.
    before = await _count_projects(service.database_url)
    burst = {**ENTERPRISE_A, "Idempotency-Key": "burst-1"}
    responses = await asyncio.gather(
        *(
            service.client.post("/api/v1/projects", json=service.body(), headers=burst)
            for _ in range(5)
        )
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["project_code"] for r in responses}) == 1
    assert await _count_projects(service.database_url) == before + 1


async def test_tenants_are_isolated(service: Service) -> None:
    project = await _submit(service)
    code = project["project_code"]
    mee_task = next(t for t in project["tasks"] if t["department"] == "MEE")

    assert (
        await service.client.get(f"/api/v1/projects/{code}", headers=ENTERPRISE_B)
    ).status_code == 404
    assert (
        await service.client.get(f"/api/v1/projects/{code}", headers=ENTERPRISE_A)
    ).status_code == 200
    assert (await service.client.get(f"/api/v1/projects/{code}", headers=OPS)).status_code == 200
    assert (
        await service.client.get(f"/api/v1/projects/{code}", headers=dept("MEE"))
    ).status_code == 200
    assert (
        await service.client.get(f"/api/v1/projects/{code}", headers=dept("NCHA"))
    ).status_code == 404
    listed = (await service.client.get("/api/v1/projects", headers=ENTERPRISE_B)).json()
    assert code not in [p["project_code"] for p in listed["items"]]

    # A department cannot see or decide another department's task.
    other = await service.client.post(
        f"/api/v1/tasks/{mee_task['task_id']}/decision",
        json={"decision": "approved"},
        headers=dept("NDRC"),
    )
    assert other.status_code == 404
    assert (
        await service.client.get("/api/v1/departments/MEE/tasks", headers=dept("NDRC"))
    ).status_code == 404
    # Enterprises cannot decide; ops is read-only.
    for headers in (ENTERPRISE_A, OPS):
        denied = await service.client.post(
            f"/api/v1/tasks/{mee_task['task_id']}/decision",
            json={"decision": "approved"},
            headers=headers,
        )
        assert denied.status_code == 403
    # Another enterprise cannot supplement or withdraw.
    assert (
        await service.client.post(f"/api/v1/projects/{code}/withdraw", headers=ENTERPRISE_B)
    ).status_code == 404
    # No token: 401 problem.
    unauthenticated = await service.client.get(f"/api/v1/projects/{code}")
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["content-type"] == "application/problem+json"
    bad = await service.client.get(
        f"/api/v1/projects/{code}", headers={"Authorization": "Bearer not-a-jwt"}
    )
    assert bad.status_code == 401


async def test_parallel_decisions_join_to_approval(service: Service) -> None:
    project = await _submit(service)
    code = project["project_code"]
    decisions = [
        service.client.post(
            f"/api/v1/tasks/{t['task_id']}/decision",
            json={"decision": "approved", "opinion": f"{t['department']} agrees"},
            headers=dept(t["department"]),
        )
        for t in project["tasks"]
    ]
    responses = await asyncio.gather(*decisions)
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert all(r.json()["document_number"] for r in responses)

    final = (await service.client.get(f"/api/v1/projects/{code}", headers=ENTERPRISE_A)).json()
    assert final["status"] == "approved"
    again = await service.client.post(
        f"/api/v1/tasks/{project['tasks'][0]['task_id']}/decision",
        json={"decision": "rejected"},
        headers=dept(project["tasks"][0]["department"]),
    )
    assert again.status_code == 409

    timeline = (
        await service.client.get(f"/api/v1/projects/{code}/timeline", headers=ENTERPRISE_A)
    ).json()["items"]
    actions = [step["action"] for step in timeline]
    assert actions[0] == "project.submitted"
    assert actions.count("approval.decision.recorded") == 3
    assert actions[-1] == "project.approved"
    assert all(step["actor"] and step["at"] for step in timeline)

    results = (
        await service.client.get("/api/v1/public/results", params={"project_code": code})
    ).json()["items"]
    assert len(results) == 3
    for result in results:
        assert result["project_name"] == "Riverside logistics park"
        assert result["document_number"].startswith(result["department"] + "-")
        assert result["issuing_department"]

    with TopicReader(service.bootstrap, "approval.projects") as reader:
        events = await reader.aread_until(
            lambda es: any(e.type == "project.approved" for e in of(es, project))
        )
    types = [e.type for e in of(events, project)]
    assert types.count("project.approved") == 1
    assert types.index("project.approved") == len(types) - 1


async def test_rejection_withdraws_the_other_tasks(service: Service) -> None:
    project = await _submit(service)
    ndrc = next(t for t in project["tasks"] if t["department"] == "NDRC")
    response = await service.client.post(
        f"/api/v1/tasks/{ndrc['task_id']}/decision",
        json={"decision": "rejected", "opinion": "not on the catalogue"},
        headers=dept("NDRC"),
    )
    assert response.status_code == 200
    final = (
        await service.client.get(f"/api/v1/projects/{project['project_code']}", headers=OPS)
    ).json()
    assert final["status"] == "rejected"
    assert sorted(t["status"] for t in final["tasks"]) == ["rejected", "withdrawn", "withdrawn"]


async def test_supplement_pauses_and_resumes(service: Service) -> None:
    project = await _submit(service)
    mee = next(t for t in project["tasks"] if t["department"] == "MEE")
    url = f"/api/v1/tasks/{mee['task_id']}/decision"
    missing = await service.client.post(
        url, json={"decision": "supplement_required"}, headers=dept("MEE")
    )
    assert missing.status_code == 422
    assert "missing_materials" in missing.json()["detail"]
    notice = await service.client.post(
        url,
        json={"decision": "supplement_required", "missing_materials": ["noise study", "site plan"]},
        headers=dept("MEE"),
    )
    assert notice.status_code == 200
    waiting = (
        await service.client.get(
            f"/api/v1/projects/{project['project_code']}", headers=ENTERPRISE_A
        )
    ).json()
    assert waiting["status"] == "supplement_required"
    supplied = await service.client.post(
        f"/api/v1/tasks/{mee['task_id']}/supplement",
        json={"materials": ["noise study", "site plan"]},
        headers=ENTERPRISE_A,
    )
    assert supplied.status_code == 200
    assert supplied.json()["status"] == "pending"
    resumed = (
        await service.client.get(
            f"/api/v1/projects/{project['project_code']}", headers=ENTERPRISE_A
        )
    ).json()
    assert resumed["status"] == "in_review"
    # The department's own topic tells its system that the task is pending again.
    with TopicReader(service.bootstrap, "approval.tasks.MEE") as reader:
        events = of(await reader.aread_until(lambda es: len(of(es, project)) >= 2), project)
    assigned = [e for e in events if e.type == "approval.task.assigned"]
    assert len(assigned) == 2
    assert assigned[1].data["task_id"] == mee["task_id"]
    assert assigned[1].data["status"] == "pending"
    assert assigned[1].causationid
    twice = await service.client.post(
        f"/api/v1/tasks/{mee['task_id']}/supplement",
        json={"materials": ["x"]},
        headers=ENTERPRISE_A,
    )
    assert twice.status_code == 409


async def test_withdrawal_and_catalogue_and_pagination(service: Service) -> None:
    codes = [(await _submit(service))["project_code"] for _ in range(3)]
    withdrawn = await service.client.post(
        f"/api/v1/projects/{codes[0]}/withdraw", headers=ENTERPRISE_A
    )
    assert withdrawn.status_code == 200
    assert withdrawn.json()["status"] == "withdrawn"
    assert {t["status"] for t in withdrawn.json()["tasks"]} == {"withdrawn"}
    assert (
        await service.client.post(f"/api/v1/projects/{codes[0]}/withdraw", headers=ENTERPRISE_A)
    ).status_code == 409

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (
            await service.client.get("/api/v1/projects", params=params, headers=ENTERPRISE_A)
        ).json()
        seen += [p["project_code"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert set(codes) <= set(seen)
    assert len(seen) == len(set(seen))
    too_big = await service.client.get("/api/v1/projects", params={"limit": 501}, headers=OPS)
    assert too_big.status_code == 422

    departments = (await service.client.get("/api/v1/departments", headers=OPS)).json()["items"]
    assert len(departments) == 18
    mee = next(d for d in departments if d["code"] == "MEE")
    report = next(m for m in mee["matters"] if m["matter_code"] == "MEE-EIA-REPORT")
    assert (report["legal_limit"], report["promised_limit"], report["day_kind"]) == (
        60,
        30,
        "calendar",
    )
    legacy = await service.client.get("/api/v1/projects/2020-451421-88-03-016343", headers=OPS)
    assert legacy.status_code == 404  # a legacy code is looked up, and simply not here
    malformed = await service.client.get("/api/v1/projects/not-a-code", headers=OPS)
    assert malformed.status_code == 422
