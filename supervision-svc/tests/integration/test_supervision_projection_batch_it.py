"""A consumer batch of the projection, read up front and applied together, leaves the same rows
as the same events applied one batch each (real database, the service's event processor)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from shared.clock import ManualClock
from shared.consumer import EventProcessor, RawMessage
from shared.db import make_engine, make_session_factory
from shared.events import CloudEvent, EventType
from supervision_svc.consumers import preload_projection, projection_handlers
from supervision_svc.domain.alerts import APPROVAL_OVERDUE, open_key
from supervision_svc.models import Alert, ProjectView, StatCounter, TaskView

from supervision_it import approval_event, project_code, project_json, task_json, unique_department

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _history(region: str, department: str) -> tuple[list[CloudEvent], str]:
    """Three projects, each submitted with three tasks, decided, approved; and the task that
    has an overdue alert open before its decision."""
    events: list[CloudEvent] = []
    overdue_task = ""
    for serial in range(1, 4):
        code = project_code(region, serial)
        assigned, due = NOW - timedelta(days=30), NOW - timedelta(days=1)
        tasks = [
            task_json(code, department=d, assigned_at=assigned, due_at=due)
            for d in (department, "NDRC", "MEE")
        ]
        overdue_task = overdue_task or tasks[0]["task_id"]
        events.append(
            approval_event(
                EventType.PROJECT_SUBMITTED,
                code,
                project_json(code, tasks=tasks, submitted_at=assigned),
            )
        )
        decided = [
            {**t, "status": "approved", "decision": "approved", "decided_at": NOW.isoformat()}
            for t in tasks
        ]
        events += [approval_event(EventType.DECISION_RECORDED, code, t) for t in decided]
        events.append(
            approval_event(
                EventType.PROJECT_APPROVED,
                code,
                project_json(code, status="approved", tasks=decided, submitted_at=assigned),
            )
        )
    return events, overdue_task


def _raw(events: list[CloudEvent]) -> list[RawMessage]:
    return [
        RawMessage(
            topic="approval.projects",
            partition=0,
            offset=i,
            key=(e.subject or "").encode(),
            value=e.to_json(),
        )
        for i, e in enumerate(events)
    ]


async def _state(sessions: Any, region: str, department: str) -> dict[str, Any]:
    async with sessions() as session:
        prefix = f"%-{region}-%"
        projects = (
            await session.exec(
                select(ProjectView).where(col(ProjectView.project_code).like(prefix))
            )
        ).all()
        tasks = (
            await session.exec(select(TaskView).where(col(TaskView.project_code).like(prefix)))
        ).all()
        alerts = (
            await session.exec(select(Alert).where(col(Alert.project_code).like(prefix)))
        ).all()
        counters = (
            await session.exec(select(StatCounter).where(col(StatCounter.scope) == department))
        ).all()
    return {
        "projects": sorted((p.project_code[-6:], p.status) for p in projects),
        "tasks": sorted(
            (t.department == department, t.status, t.decision, t.decided_at) for t in tasks
        ),
        "alerts": sorted((a.kind, a.resolved_at is not None) for a in alerts),
        "counters": sorted((c.metric, c.key, float(c.value)) for c in counters),
    }


async def test_a_batch_applied_together_ends_as_the_events_applied_one_by_one(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    try:
        results = []
        for together in (True, False):
            region = f"{uuid.uuid4().int % 900000 + 100000}"
            department = unique_department()
            while department in ("NDRC", "MEE"):  # the other two departments of each project
                department = unique_department()
            events, overdue_task = _history(region, department)
            async with sessions() as session:  # raised by a sweep before the decisions came
                session.add(
                    Alert(
                        alert_id=uuid.uuid4().hex,
                        project_code=project_code(region, 1),
                        kind=APPROVAL_OVERDUE,
                        level="red",
                        raised_at=NOW - timedelta(hours=1),
                        detail="overdue",
                        department=department,
                        task_id=overdue_task,
                        open_key=open_key(APPROVAL_OVERDUE, overdue_task),
                    )
                )
                await session.commit()
            processor = EventProcessor(
                name=f"projection-{uuid.uuid4().hex[:6]}",
                service="supervision-test",
                session_factory=sessions,
                handlers=projection_handlers(ManualClock(NOW)),
                # One by one: read from the database as each event needs it (no preload).
                prepare=preload_projection if together else None,
            )
            messages = _raw(events)
            if together:
                await processor.process(messages)
            else:
                for message in messages:
                    await processor.process([message])
            results.append(await _state(sessions, region, department))
    finally:
        await engine.dispose()
    together_state, one_by_one = results
    assert together_state == one_by_one
    assert [s for _, s in together_state["projects"]] == ["approved"] * 3
    assert {t[1] for t in together_state["tasks"]} == {"approved"}
    # The overdue alert resolved by its task's decision; a start-overdue alert raised for each
    # approved project (its planned start has passed) and left open.
    assert together_state["alerts"] == [(APPROVAL_OVERDUE, True)] + [("start_overdue", False)] * 3
    counters = {(m, k): v for m, k, v in together_state["counters"]}
    assert counters[("tasks", "decided")] == 3
    assert counters[("project_status", "approved")] == 3
    assert counters.get(("tasks", "pending"), 0) == 0
