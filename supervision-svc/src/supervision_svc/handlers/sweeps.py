"""Use cases that fire because time passes, not because an event arrived (run by `scheduler`).

* `approval_overdue`: pending tasks past their yellow threshold (and tasks with an open alert)
  are checked against their time limit: yellow at 90 %, escalated to red past it, resolved once
  the task no longer waits on its department;
* construction rules: projects whose `next_check_at` has come;
* credit: enterprises whose status may change by time alone (a serious record turning 90
  days old, an ordinary one leaving the 12-month window).

`run_due_rules` runs all three and returns the next instant anything is due, so the scheduler
sleeps until then. One transaction per chunk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from supervision_svc.domain.alerts import APPROVAL_OVERDUE, earliest
from supervision_svc.domain.overdue import overdue_detail, task_level
from supervision_svc.domain.thresholds import Thresholds
from supervision_svc.handlers.alerts import AlertSubject, set_alert_level
from supervision_svc.handlers.construction import check_project
from supervision_svc.handlers.credit import refresh_status
from supervision_svc.models import Alert
from supervision_svc.rows import TaskRow
from supervision_svc.unit_of_work import SupervisionUnitOfWork

log = logging.getLogger(__name__)

SWEEP_CHUNK = 500

UowFactory = Callable[[], SupervisionUnitOfWork]


@dataclass(slots=True)
class SweepResult:
    checked: int = 0
    raised: int = 0
    escalated: int = 0
    resolved: int = 0

    def count(self, action: str | None) -> None:
        if action == "raise":
            self.raised += 1
        elif action == "escalate":
            self.escalated += 1
        elif action == "resolve":
            self.resolved += 1


async def run_due_rules(
    *, uow_factory: UowFactory, now: datetime, rules: Thresholds
) -> datetime | None:
    """Run every rule that is due at `now`; the next instant one is due (None: nothing)."""
    await sweep_approval_overdue(uow_factory=uow_factory, now=now, rules=rules)
    await sweep_construction(uow_factory=uow_factory, now=now, rules=rules)
    await sweep_credit(uow_factory=uow_factory, now=now, rules=rules)
    async with uow_factory() as uow:
        return earliest(
            await uow.tasks.next_due(after=now),
            await uow.projects.next_check_at(),
            await uow.credit.next_check_at(),
        )


async def sweep_approval_overdue(
    *, uow_factory: UowFactory, now: datetime, rules: Thresholds, chunk: int = SWEEP_CHUNK
) -> SweepResult:
    """One pass over pending tasks past their yellow threshold and tasks with open alerts."""
    result = SweepResult()
    after = ""
    while True:
        async with uow_factory() as uow:
            tasks = await uow.tasks.to_check_for_overdue(
                now=now, kind=APPROVAL_OVERDUE, after=after, limit=chunk
            )
            if not tasks:
                break
            open_alerts = await uow.alerts.open_of_tasks(
                [t.task_id for t in tasks], kind=APPROVAL_OVERDUE
            )
            credit_codes = await uow.projects.credit_codes({t.project_code for t in tasks})
            for task in tasks:
                current = open_alerts.get(task.task_id, [])
                action = await _check_overdue(
                    uow,
                    task,
                    current=current[0] if current else None,
                    credit_code=credit_codes.get(task.project_code),
                    now=now,
                    rules=rules,
                )
                result.checked += 1
                result.count(action)
            await uow.commit()
        after = tasks[-1].task_id
        if len(tasks) < chunk:
            break
    if result.raised or result.escalated or result.resolved:
        log.info("approval_overdue sweep: %s", result)
    return result


async def _check_overdue(
    uow: SupervisionUnitOfWork,
    task: TaskRow,
    *,
    current: Alert | None,
    credit_code: str | None,
    now: datetime,
    rules: Thresholds,
) -> str | None:
    target = task_level(
        status=task.status,
        assigned_at=task.assigned_at,
        due_at=task.due_at,
        now=now,
        ratio=rules.approval_yellow_ratio,
    )
    detail = (
        overdue_detail(
            level=target,
            department=task.department,
            matter_name=task.matter_name,
            task_id=task.task_id,
            assigned_at=task.assigned_at,
            due_at=task.due_at,
            now=now,
        )
        if target is not None
        else ""
    )
    return await set_alert_level(
        uow,
        subject=AlertSubject(
            kind=APPROVAL_OVERDUE,
            project_code=task.project_code,
            credit_code=credit_code,
            department=task.department,
            task_id=task.task_id,
        ),
        current=current,
        target=target,
        detail=detail,
        now=now,
        rules=rules,
    )


async def sweep_construction(
    *, uow_factory: UowFactory, now: datetime, rules: Thresholds, chunk: int = SWEEP_CHUNK
) -> int:
    """Check every project whose `next_check_at` has come; returns how many were checked."""
    checked, after = 0, ""
    while True:
        async with uow_factory() as uow:
            projects = await uow.projects.due_for_check(now=now, after=after, limit=chunk)
            for project in projects:
                await check_project(uow, project=project, now=now, rules=rules)
            await uow.commit()
        checked += len(projects)
        if len(projects) < chunk:
            return checked
        after = projects[-1].project_code


async def sweep_credit(
    *, uow_factory: UowFactory, now: datetime, rules: Thresholds, chunk: int = SWEEP_CHUNK
) -> int:
    """Recompute the statuses time may have changed; returns how many were recomputed."""
    checked = 0
    while True:
        async with uow_factory() as uow:
            states = await uow.credit.due_for_check(now=now, limit=chunk)
            for state in states:
                await refresh_status(uow, credit_code=state.credit_code, now=now, rules=rules)
            await uow.commit()
        checked += len(states)
        if len(states) < chunk:
            return checked
