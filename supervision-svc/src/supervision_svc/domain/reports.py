"""Rules of construction reports (pure): what a new report may say given the ones before it.

* `start` exactly once, `completion` at most once and at 100 % (given or implied);
  `progress` and `completion` only after the start; nothing but a `change` after completion;
* progress 0 to 100 (checked by the request schema) and never decreasing; invested-to-date never
  decreasing;
* the report date not before the previous report's nor after today (platform clock);
* `planned_completion` only on a start report, and not before its report date;
* no report at all on a rejected or withdrawn project.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from supervision_svc.domain.construction import ENDED_STATUSES
from supervision_svc.domain.errors import FieldProblem

ReportKind = Literal["start", "progress", "completion", "change"]


@dataclass(frozen=True, slots=True)
class NewReport:
    kind: ReportKind
    report_date: date
    progress_percent: Decimal | None = None
    invested_to_date: Decimal | None = None
    note: str | None = None
    planned_completion: date | None = None


@dataclass(frozen=True, slots=True)
class ReportHistory:
    """What the reports filed so far add up to (kept on the project's supervision row)."""

    project_status: str
    started_on: date | None = None
    completed_on: date | None = None
    last_report_on: date | None = None
    progress: Decimal | None = None
    invested: Decimal | None = None


def report_problems(
    report: NewReport, history: ReportHistory, *, today: date
) -> list[FieldProblem]:
    """Every rule `report` breaks (empty: it may be filed)."""
    problems: list[FieldProblem] = []
    if history.project_status in ENDED_STATUSES:
        problems.append(
            FieldProblem("project_code", f"the project is {history.project_status}: no reports")
        )
    problems += _kind_problems(report, history)
    if report.report_date > today:
        problems.append(FieldProblem("report_date", f"is after today ({today})"))
    if history.last_report_on is not None and report.report_date < history.last_report_on:
        problems.append(
            FieldProblem(
                "report_date", f"is before the previous report's date ({history.last_report_on})"
            )
        )
    if (
        report.progress_percent is not None
        and history.progress is not None
        and report.progress_percent < history.progress
    ):
        problems.append(
            FieldProblem(
                "progress_percent", f"may not decrease (last reported {history.progress:g})"
            )
        )
    if (
        report.invested_to_date is not None
        and history.invested is not None
        and report.invested_to_date < history.invested
    ):
        problems.append(
            FieldProblem("invested_to_date", f"may not decrease (last reported {history.invested})")
        )
    if report.planned_completion is not None:
        if report.kind != "start":
            problems.append(FieldProblem("planned_completion", "is only given on a start report"))
        elif report.planned_completion < report.report_date:
            problems.append(FieldProblem("planned_completion", "is before the report date"))
    return problems


def _kind_problems(report: NewReport, history: ReportHistory) -> list[FieldProblem]:
    kind = report.kind
    if kind == "start" and history.started_on is not None:
        return [
            FieldProblem("kind", f"the project already reported its start ({history.started_on})")
        ]
    if kind in ("progress", "completion") and history.started_on is None:
        return [FieldProblem("kind", f"a {kind} report needs a start report first")]
    if kind != "change" and history.completed_on is not None:
        return [
            FieldProblem("kind", f"the project reported its completion ({history.completed_on})")
        ]
    if kind == "progress" and report.progress_percent is None:
        return [FieldProblem("progress_percent", "is required on a progress report")]
    if kind == "completion" and report.progress_percent not in (None, 100):
        return [FieldProblem("progress_percent", "must be 100 on a completion report")]
    return []
