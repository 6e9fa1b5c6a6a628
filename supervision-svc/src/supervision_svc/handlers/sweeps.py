"""Use cases that fire because time passes, not because an event arrived (run by `scheduler`).

`approval_overdue`: every pending task is checked against its time limit by the platform
clock; yellow at 90 %, red past it (red resolves the yellow), and the alerts of tasks that no
longer wait on their department are resolved.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from supervision_svc.domain.alerts import APPROVAL_OVERDUE
from supervision_svc.domain.overdue import overdue_detail, plan_task_alerts
from supervision_svc.handlers.alerts import raise_alert, resolve_alert
from supervision_svc.models import Alert, TaskView
from supervision_svc.unit_of_work import SupervisionUnitOfWork

log = logging.getLogger(__name__)

SWEEP_CHUNK = 500


@dataclass(slots=True)
class SweepResult:
    checked: int = 0
    raised: int = 0
    resolved: int = 0


async def sweep_approval_overdue(
    *,
    uow_factory: Callable[[], SupervisionUnitOfWork],
    now: datetime,
    chunk: int = SWEEP_CHUNK,
) -> SweepResult:
    """One pass over pending tasks past their yellow threshold and tasks with open alerts:
    yellow at 90 % of the limit, red past it (red resolves the yellow), and the alerts of
    tasks that no longer wait on their department are resolved. One transaction per chunk."""
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
                await _check_overdue(
                    uow,
                    task,
                    open_alerts=open_alerts.get(task.task_id, []),
                    credit_code=credit_codes.get(task.project_code),
                    now=now,
                    result=result,
                )
            await uow.commit()
        after = tasks[-1].task_id
        if len(tasks) < chunk:
            break
    if result.raised or result.resolved:
        log.info(
            "approval_overdue sweep: %d checked, %d raised, %d resolved",
            result.checked,
            result.raised,
            result.resolved,
        )
    return result


async def _check_overdue(
    uow: SupervisionUnitOfWork,
    task: TaskView,
    *,
    open_alerts: list[Alert],
    credit_code: str | None,
    now: datetime,
    result: SweepResult,
) -> None:
    plan = plan_task_alerts(
        status=task.status,
        assigned_at=task.assigned_at,
        due_at=task.due_at,
        now=now,
        open_levels={a.level for a in open_alerts},
    )
    result.checked += 1
    for alert in open_alerts:  # resolve first: consumers see yellow closed, then red
        if alert.level in plan.resolve_levels:
            result.resolved += await resolve_alert(uow, alert=alert, now=now)
    if plan.raise_level is None:
        return
    raised = await raise_alert(
        uow,
        kind=APPROVAL_OVERDUE,
        level=plan.raise_level,
        project_code=task.project_code,
        subject=task.task_id,
        detail=overdue_detail(
            level=plan.raise_level,
            department=task.department,
            matter_name=task.matter_name,
            task_id=task.task_id,
            assigned_at=task.assigned_at,
            due_at=task.due_at,
            now=now,
        ),
        now=now,
        credit_code=credit_code,
        department=task.department,
        task_id=task.task_id,
    )
    result.raised += raised is not None
