"""Use case: an enterprise files a construction report on its project.

The report is checked against the ones before it (`domain.reports`), stored, published as
`supervision.report.filed` on `supervision.reports` (outbox), folded into the project's
supervision row, and the construction rules run at once (a start report before approval is
red at once; a report can clear `progress_missing` or `progress_behind`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from shared.events import SUPERVISION_SOURCE, EventType, ReportData, new_event
from shared.topics import SUPERVISION_REPORTS
from supervision_svc.domain.construction import IN_APPROVAL_STATUSES
from supervision_svc.domain.errors import InvalidReport, NotFound
from supervision_svc.domain.reports import NewReport, ReportHistory, report_problems
from supervision_svc.domain.thresholds import Thresholds
from supervision_svc.handlers.construction import check_project
from supervision_svc.models import Report
from supervision_svc.rows import ProjectRow
from supervision_svc.unit_of_work import SupervisionUnitOfWork


@dataclass(frozen=True, slots=True)
class FileReport:
    project_code: str
    credit_code: str  # of the caller: only the project's own enterprise may report
    report: NewReport


def report_data(report: Report) -> ReportData:
    return ReportData.model_validate(report, from_attributes=True)


def history_of(project: ProjectRow) -> ReportHistory:
    return ReportHistory(
        project_status=project.status,
        started_on=project.started_on,
        completed_on=project.completed_on,
        last_report_on=project.last_report_on,
        progress=project.reported_progress,
        invested=project.invested_to_date,
    )


async def file_report(
    uow: SupervisionUnitOfWork, *, command: FileReport, now: datetime, rules: Thresholds
) -> Report:
    project = await uow.projects.get(command.project_code)
    if project is None or project.credit_code != command.credit_code:
        raise NotFound(f"project {command.project_code}")
    new = command.report
    if new.kind == "completion" and new.progress_percent is None:
        new = replace(new, progress_percent=Decimal(100))
    problems = report_problems(new, history_of(project), today=now.date())
    if problems:
        raise InvalidReport(problems)
    report = Report(
        report_id=str(uuid.uuid4()),
        project_code=project.project_code,
        credit_code=project.credit_code,
        kind=new.kind,
        report_date=new.report_date,
        progress_percent=new.progress_percent,
        invested_to_date=new.invested_to_date,
        note=new.note,
        planned_completion=new.planned_completion,
        filed_at=now,
    )
    uow.reports.add(report)
    _fold(project, new)
    uow.emit(
        new_event(
            type=EventType.REPORT_FILED,
            source=SUPERVISION_SOURCE,
            subject=project.project_code,
            data=report_data(report),
            time=now,
        ),
        SUPERVISION_REPORTS,
        key=project.project_code,
    )
    await check_project(uow, project=project, now=now, rules=rules)
    return report


def _fold(project: ProjectRow, report: NewReport) -> None:
    """What the project's row remembers of its reports (what the next one is checked against)."""
    if report.kind == "start":
        project.started_on = report.report_date
        project.planned_completion = report.planned_completion
        project.started_before_approval = project.status in IN_APPROVAL_STATUSES
    if report.kind == "completion":
        project.completed_on = report.report_date
    project.last_report_on = report.report_date
    if report.progress_percent is not None:
        project.reported_progress = report.progress_percent
    elif report.kind == "start" and project.reported_progress is None:
        project.reported_progress = Decimal(0)
    if report.invested_to_date is not None:
        project.invested_to_date = report.invested_to_date
