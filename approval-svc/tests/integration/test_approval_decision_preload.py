"""A batch of decisions reads and locks its projects before its handlers run: by the projects'
codes (the decisions' subject) with two statements, and by task id for a decision whose
subject names another project. Either way no handler needs a statement to find its project."""

from __future__ import annotations

from collections.abc import AsyncIterator
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


async def _each_found_without_a_statement(
    projects: SqlProjects, selects: list[str], submitted: list[tuple[str, str]]
) -> None:
    selects.clear()
    for code, task in submitted:
        found = await projects.get_by_task(task)
        assert found is not None
        assert found.code == code
    assert selects == []


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


async def test_projects_named_by_the_subjects_are_read_with_two_statements(
    service: Service, batch: tuple[SqlProjects, list[str]]
) -> None:
    projects, selects = batch
    submitted = await _submitted(service, 3)

    await projects.preload_tasks(
        [task for _, task in submitted], codes=[code for code, _ in submitted]
    )

    assert len(selects) == 2  # the projects (locked) and their tasks; no lookup by task
    await _each_found_without_a_statement(projects, selects, submitted)


async def test_a_task_whose_subject_names_another_project_is_looked_up_by_id(
    service: Service, batch: tuple[SqlProjects, list[str]]
) -> None:
    projects, selects = batch
    submitted = await _submitted(service, 3)
    (first, _), (second, _), _ = submitted

    # The third decision says it is about the first project.
    await projects.preload_tasks(
        [task for _, task in submitted], codes=[first, second, first, "2026-999999-99-99-999999"]
    )

    assert len(selects) == 2 + 1 + 2  # by code; the third's code by its task; its project
    await _each_found_without_a_statement(projects, selects, submitted)


async def test_without_subjects_the_projects_are_found_by_task(
    service: Service, batch: tuple[SqlProjects, list[str]]
) -> None:
    projects, selects = batch
    submitted = await _submitted(service, 2)

    await projects.preload_tasks([task for _, task in submitted])

    assert len(selects) == 3
    await _each_found_without_a_statement(projects, selects, submitted)
