"""Use case: bring a project's construction alerts in line with the rules now.

Called when something about the project changes (a report, a status from approval-svc) and by
the scheduler when the project's `next_check_at` comes. Each call stores when the next check
is due, so nothing polls projects that cannot change.
"""

from __future__ import annotations

from datetime import datetime

from shared.events import CloudEvent
from supervision_svc.domain.alerts import CONSTRUCTION_KINDS
from supervision_svc.domain.construction import ConstructionState, Evaluation, evaluate
from supervision_svc.domain.thresholds import Thresholds
from supervision_svc.handlers.alerts import AlertSubject, set_alert_level
from supervision_svc.models import ProjectView
from supervision_svc.rows import ProjectRow
from supervision_svc.unit_of_work import SupervisionUnitOfWork


def construction_state(project: ProjectRow | ProjectView) -> ConstructionState:
    return ConstructionState(
        status=project.status,
        planned_start=project.planned_start,
        cleared_at=project.cleared_at,
        started_on=project.started_on,
        last_report_on=project.last_report_on,
        reported_progress=project.reported_progress,
        planned_completion=project.planned_completion,
        completed=project.completed_on is not None,
        started_before_approval=project.started_before_approval,
    )


async def check_project(
    uow: SupervisionUnitOfWork,
    *,
    project: ProjectRow,
    now: datetime,
    rules: Thresholds,
    cause: CloudEvent | None = None,
) -> Evaluation:
    """Raise, escalate or resolve each construction alert of the project as the rules say."""
    evaluation = evaluate(construction_state(project), now=now, thresholds=rules)
    open_alerts = {
        a.kind: a
        for a in await uow.alerts.open_of_project(project.project_code, kinds=CONSTRUCTION_KINDS)
    }
    for kind, finding in evaluation.findings.items():
        await set_alert_level(
            uow,
            subject=AlertSubject(
                kind=kind, project_code=project.project_code, credit_code=project.credit_code
            ),
            current=open_alerts.get(kind),
            target=finding.level,
            detail=finding.detail,
            now=now,
            rules=rules,
            cause=cause,
        )
    project.next_check_at = evaluation.next_check_at
    await uow.projects.add(project)
    return evaluation
