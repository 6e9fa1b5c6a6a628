"""A batch of decisions reads and locks its projects before its handlers run: by the projects'
codes (the decisions' subject) with two statements, and by task id for a decision whose
subject names another project. Either way no handler needs a statement to find its project."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import event

from approval_svc.repository import SqlProjects
from shared.db import make_engine, make_session_factory
from shared.outbox import UnitOfWork

from conftest import ENTERPRISE_A, Service

pytestmark = pytest.mark.integration


async def _submitted(service: Service, n: int) -> list[tuple[str, str]]:
    """(project code, its first task's id) of `n` new projects."""
    found = []
    for i in range(n):
        response = await service.client.post(
            "/api/v1/projects", json=service.body(name=f"Preload {i}"), headers=ENTERPRISE_A
        )
        assert response.status_code == 201
        body = response.json()
        found.append((body["project_code"], body["tasks"][0]["task_id"]))
    return found


@pytest.fixture
async def batch(service: Service) -> AsyncIterator[tuple[SqlProjects, list[str]]]:
    """A deferred repository in an open transaction, and the SELECTs it sends."""
    engine = make_engine(service.database_url)
    selects: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        async with UnitOfWork(make_session_factory(engine)) as outbox:
            yield SqlProjects(outbox.session, outbox, deferred=True), selects
            await outbox.rollback()
    finally:
        await engine.dispose()


def _right(codes: list[str]) -> list[str]:
    return codes


def _third_names_the_first(codes: list[str]) -> list[str]:
    # The third decision says it is about the first project; one subject names no project.
    return [codes[0], codes[1], codes[0], "2026-999999-99-99-999999"]


def _none(codes: list[str]) -> list[str]:
    return []


@pytest.mark.parametrize(
    ("subjects", "expected_selects"),
    [
        (_right, 2),  # the projects (locked) and their tasks; no lookup by task
        (_third_names_the_first, 2 + 1 + 2),  # by code; the third's code by task; its project
        (_none, 3),  # the codes by task; the projects; their tasks
    ],
    ids=["right-subjects", "a-wrong-subject", "no-subjects"],
)
async def test_a_batch_finds_every_project_whatever_its_subjects(
    service: Service,
    batch: tuple[SqlProjects, list[str]],
    subjects: Callable[[list[str]], list[str]],
    expected_selects: int,
) -> None:
    projects, selects = batch
    submitted = await _submitted(service, 3)

    await projects.preload_tasks(
        [task for _, task in submitted], codes=subjects([code for code, _ in submitted])
    )

    assert len(selects) == expected_selects
    selects.clear()
    for code, task in submitted:
        found = await projects.get_by_task(task)
        assert found is not None
        assert found.code == code
    assert selects == []  # no statement to find a task's project
