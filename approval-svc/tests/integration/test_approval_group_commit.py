"""Concurrent submissions share transactions (group commit), and each still gets its own
answer: its own project, its own domain error, its own replay."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from approval_svc.domain.identifiers import parse_project_code
from approval_svc.models import IdempotencyRecord, Project
from shared.db import make_engine

from conftest import ENTERPRISE_A, Service

pytestmark = pytest.mark.integration


def _groups() -> tuple[float, float]:
    """(groups committed, submissions in them) so far, from the group-size histogram."""
    count = REGISTRY.get_sample_value("approval_submission_group_size_count") or 0.0
    total = REGISTRY.get_sample_value("approval_submission_group_size_sum") or 0.0
    return count, total


async def _rows(url: str, model: type, **where: str) -> int:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            query = select(func.count()).select_from(model)
            for name, value in where.items():
                query = query.where(getattr(model, name) == value)
            return int((await conn.execute(query)).scalar_one())
    finally:
        await engine.dispose()


async def test_a_burst_is_committed_in_groups_with_an_answer_each(service: Service) -> None:
    before_projects = await _rows(service.database_url, Project)
    groups_before, grouped_before = _groups()
    first = await service.client.post(
        "/api/v1/projects",
        json=service.body(name="Keyed"),
        headers={**ENTERPRISE_A, "Idempotency-Key": "group-key"},
    )
    assert first.status_code == 201

    async def submit(i: int) -> tuple[int, dict]:
        headers = dict(ENTERPRISE_A)
        body = service.body(name=f"Burst {i}")
        if i % 10 == 0:  # the key of `first` with another body: refused, alone
            headers["Idempotency-Key"] = "group-key"
        elif i % 10 == 5:  # the key of `first` with its body: its first answer again
            headers["Idempotency-Key"] = "group-key"
            body = service.body(name="Keyed")
        response = await service.client.post("/api/v1/projects", json=body, headers=headers)
        return response.status_code, response.json()

    answers = await asyncio.gather(*(submit(i) for i in range(60)))

    refused = [a for i, a in enumerate(answers) if i % 10 == 0]
    replayed = [a for i, a in enumerate(answers) if i % 10 == 5]
    created = [a for i, a in enumerate(answers) if i % 10 not in (0, 5)]
    assert {status for status, _ in refused} == {422}
    assert all(
        ["header", "Idempotency-Key"] in [e["loc"] for e in body["errors"]] for _, body in refused
    )
    assert all(a == (201, first.json()) for a in replayed)
    assert {status for status, _ in created} == {201}
    codes = [body["project_code"] for _, body in created]
    assert len(set(codes)) == len(created) == 48
    # Serials follow on from the first project's with no gap: a group takes serials only for
    # the submissions it stores (not for the replayed or refused ones).
    first_serial = parse_project_code(first.json()["project_code"]).serial
    serials = sorted(parse_project_code(code).serial for code in codes)
    assert serials == list(range(first_serial + 1, first_serial + 49))
    names = sorted(body["name"] for _, body in created)
    assert names == sorted(f"Burst {i}" for i in range(60) if i % 10 not in (0, 5))
    # Exactly the new projects were stored, the key once.
    assert await _rows(service.database_url, Project) == before_projects + 1 + 48
    assert await _rows(service.database_url, IdempotencyRecord, key="group-key") == 1
    # And they did share transactions: fewer groups than submissions.
    groups, grouped = _groups()
    assert grouped - grouped_before == 61
    assert groups - groups_before < 61


async def test_every_grouped_project_is_fetched_as_answered(service: Service) -> None:
    answers = await asyncio.gather(
        *(
            service.client.post(
                "/api/v1/projects", json=service.body(name=f"P{i}"), headers=ENTERPRISE_A
            )
            for i in range(20)
        )
    )
    for answer in answers:
        assert answer.status_code == 201
        stored = await service.client.get(
            f"/api/v1/projects/{answer.json()['project_code']}", headers=ENTERPRISE_A
        )
        assert stored.status_code == 200
        assert stored.json() == answer.json()
