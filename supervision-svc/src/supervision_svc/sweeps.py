"""Periodic sweeps: rules that fire because time passes, not because an event arrived.

`approval_overdue`: every pending task is checked against its time limit by the platform
clock; yellow at 90 %, red past it (red resolves the yellow), and alerts of tasks that no
longer wait on their department are resolved.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import Gauge
from sqlalchemy import and_, or_
from sqlmodel import col, select

from shared.clock import Clock
from shared.outbox import UnitOfWork
from supervision_svc.alerts import open_task_alerts, raise_alert, resolve_alert
from supervision_svc.domain.overdue import APPROVAL_OVERDUE, overdue_detail, plan_task_alerts
from supervision_svc.models import Alert, ProjectView, TaskView

log = logging.getLogger(__name__)

MIN_REAL_INTERVAL_S = 0.2  # a clock that never sleeps (ManualClock) must not spin the loop
SWEEP_CHUNK = 500

SWEEP_LAST_SUCCESS = Gauge(
    "supervision_sweep_last_success_timestamp_seconds",
    "Unix time (real) at which a sweep last finished without error.",
    ["sweep"],
)


@dataclass(slots=True)
class SweepResult:
    checked: int = 0
    raised: int = 0
    resolved: int = 0


async def sweep_approval_overdue(
    *, uow_factory: Callable[[], UnitOfWork], clock: Clock, chunk: int = SWEEP_CHUNK
) -> SweepResult:
    """One pass over pending tasks past their yellow threshold and tasks with open alerts."""
    now = clock.now()
    result = SweepResult()
    with_open_alert = (
        select(Alert.task_id)
        .where(col(Alert.kind) == APPROVAL_OVERDUE)
        .where(col(Alert.resolved_at).is_(None))
    )
    candidates = or_(
        and_(col(TaskView.status) == "pending", col(TaskView.yellow_at) <= now),
        col(TaskView.task_id).in_(with_open_alert),
    )
    after = ""
    while True:
        async with uow_factory() as uow:
            tasks = list(
                (
                    await uow.session.exec(
                        select(TaskView)
                        .where(candidates)
                        .where(col(TaskView.task_id) > after)
                        .order_by(col(TaskView.task_id))
                        .limit(chunk)
                    )
                ).all()
            )
            if not tasks:
                await uow.rollback()
                break
            open_alerts = await open_task_alerts(uow.session, [t.task_id for t in tasks])
            credit_codes = dict(
                (
                    await uow.session.exec(
                        select(ProjectView.project_code, ProjectView.credit_code).where(
                            col(ProjectView.project_code).in_({t.project_code for t in tasks})
                        )
                    )
                ).all()
            )
            for task in tasks:
                alerts = open_alerts.get(task.task_id, [])
                plan = plan_task_alerts(
                    status=task.status,
                    assigned_at=task.assigned_at,
                    due_at=task.due_at,
                    now=now,
                    open_levels={a.level for a in alerts},
                )
                result.checked += 1
                for alert in alerts:  # resolve first: consumers see yellow closed, then red
                    if alert.level in plan.resolve_levels:
                        result.resolved += await resolve_alert(uow, alert, now=now)
                if plan.raise_level is not None:
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
                        credit_code=credit_codes.get(task.project_code),
                        department=task.department,
                        task_id=task.task_id,
                    )
                    result.raised += raised is not None
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


async def run_sweeps(
    *, uow_factory: Callable[[], UnitOfWork], clock: Clock, interval_days: float
) -> None:
    """Sweep forever, every `interval_days` platform days (errors are logged, not fatal)."""
    interval_s = interval_days * 86_400
    while True:
        try:
            await sweep_approval_overdue(uow_factory=uow_factory, clock=clock)
            SWEEP_LAST_SUCCESS.labels(APPROVAL_OVERDUE).set(time.time())
        except Exception:
            log.exception("approval_overdue sweep failed; retrying next interval")
        await asyncio.sleep(max(clock.real_seconds(interval_s), MIN_REAL_INTERVAL_S))
