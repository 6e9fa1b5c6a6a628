"""Tables of the supervision service (its own database).

The models live in their own SQLAlchemy registry, not in `SQLModel.metadata`: approval-svc
also has tables named `projects` and `tasks`, and both services are imported by the same
process in workspace-wide test runs. The shared tables (outbox, processed events, relay
lease) are copied into this metadata so the migrations create them too.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Index, MetaData
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shared.db import SHARED_TABLES, decimal_column, table_of, utc_column

__all__ = [
    "Alert",
    "CreditAudit",
    "CreditRecord",
    "CreditState",
    "ProjectView",
    "Report",
    "StatCounter",
    "StatSubmission",
    "TaskView",
    "metadata",
]


class SupervisionModel(SQLModel, registry=registry()):
    """Base of every table of this service (own metadata)."""


metadata: MetaData = SupervisionModel.metadata

for _shared in SHARED_TABLES:
    _table = table_of(_shared)
    if _table.name not in metadata.tables:
        _table.to_metadata(metadata)


class ProjectView(SupervisionModel, table=True):
    """A project as approval-svc last told us (projection of `approval.projects`)."""

    __tablename__ = "projects"
    __table_args__ = (Index("ix_projects_status", "status"),)

    project_code: str = Field(primary_key=True, max_length=32)
    credit_code: str = Field(max_length=18, index=True)
    name: str | None = Field(default=None, max_length=200)
    status: str = Field(max_length=32)
    procedure: str = Field(max_length=16)
    region_code: str = Field(max_length=6)
    planned_start: date | None = None
    submitted_at: datetime = Field(sa_column=utc_column())
    updated_at: datetime = Field(sa_column=utc_column())
    # Time of the event the row was last built from: later events win, earlier ones are ignored.
    version_at: datetime = Field(sa_column=utc_column())
    industry_code: str | None = Field(default=None, max_length=16)
    # When the project was approved or filed (starts `start_overdue` without a planned start).
    cleared_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # What the construction reports add up to (see `domain.reports`, `domain.construction`).
    started_on: date | None = None
    completed_on: date | None = None
    last_report_on: date | None = None
    reported_progress: Decimal | None = Field(default=None, sa_column=decimal_column())
    invested_to_date: Decimal | None = Field(default=None, sa_column=decimal_column())
    planned_completion: date | None = None
    started_before_approval: bool = False
    # When a construction rule may next change level by time alone (NULL: never): the
    # scheduler sleeps until the earliest one.
    next_check_at: datetime | None = Field(
        default=None, sa_column=utc_column(nullable=True, index=True)
    )


class TaskView(SupervisionModel, table=True):
    """A department task as approval-svc last told us."""

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_status_yellow", "status", "yellow_at"),
        Index("ix_tasks_dept_status", "department", "status"),
        Index("ix_tasks_status_due", "status", "due_at"),
    )

    task_id: str = Field(primary_key=True, max_length=40)
    project_code: str = Field(max_length=32, index=True)
    department: str = Field(max_length=16)
    matter_code: str = Field(max_length=40)
    matter_name: str = Field(max_length=200)
    status: str = Field(max_length=32)
    assigned_at: datetime = Field(sa_column=utc_column())
    due_at: datetime = Field(sa_column=utc_column())
    # When the yellow card falls due (90 % of the limit): lets the sweep use an index.
    yellow_at: datetime = Field(sa_column=utc_column())
    decided_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    decision: str | None = Field(default=None, max_length=32)
    # Assignment to final decision, for the mean decision time (set once decided).
    decision_seconds: float | None = None
    version_at: datetime = Field(sa_column=utc_column())


class Alert(SupervisionModel, table=True):
    """A traffic-light alert: open until `resolved_at` is set."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_raised", "raised_at", "alert_id"),
        Index("ix_alerts_task_open", "task_id", "resolved_at"),
        Index("ix_alerts_level_open", "level", "resolved_at"),
        # A department's and an enterprise's alert lists, newest first, straight from an index.
        Index("ix_alerts_department_raised", "department", "raised_at", "alert_id"),
        Index("ix_alerts_credit_raised", "credit_code", "raised_at", "alert_id"),
    )

    alert_id: str = Field(primary_key=True, max_length=40)
    project_code: str = Field(max_length=32, index=True)
    kind: str = Field(max_length=40)
    level: str = Field(max_length=8)
    raised_at: datetime = Field(sa_column=utc_column())
    detail: str = Field(max_length=1000)
    resolved_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    credit_code: str | None = Field(default=None, max_length=18)
    department: str | None = Field(default=None, max_length=16)
    task_id: str | None = Field(default=None, max_length=40)
    # `kind:subject:level` while open, NULL once resolved: a unique key, so the same alert
    # is never open twice even if two sweepers race.
    open_key: str | None = Field(default=None, max_length=160, unique=True)
    escalated_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class Report(SupervisionModel, table=True):
    """A construction report filed by the project's enterprise."""

    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_project", "project_code", "filed_at", "report_id"),)

    report_id: str = Field(primary_key=True, max_length=40)
    project_code: str = Field(max_length=32)
    credit_code: str = Field(max_length=18)
    kind: str = Field(max_length=16)
    report_date: date
    progress_percent: Decimal | None = Field(default=None, sa_column=decimal_column())
    invested_to_date: Decimal | None = Field(default=None, sa_column=decimal_column())
    note: str | None = Field(default=None, max_length=2000)
    planned_completion: date | None = None
    filed_at: datetime = Field(sa_column=utc_column())


class CreditRecord(SupervisionModel, table=True):
    """An abnormal-conduct record of an enterprise, left by a red alert (one per alert)."""

    __tablename__ = "credit_records"
    __table_args__ = (Index("ix_credit_records_code", "credit_code", "created_at"),)

    record_id: str = Field(primary_key=True, max_length=40)
    credit_code: str = Field(max_length=18)
    project_code: str | None = Field(default=None, max_length=32)
    severity: str = Field(max_length=16)
    reason: str = Field(max_length=1000)
    alert_id: str | None = Field(default=None, max_length=40, unique=True)
    created_at: datetime = Field(sa_column=utc_column())
    corrected_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    correction_reason: str | None = Field(default=None, max_length=1000)
    corrected_by: str | None = Field(default=None, max_length=200)


class CreditState(SupervisionModel, table=True):
    """An enterprise's current credit status (a row only once it has a record)."""

    __tablename__ = "credit_states"
    __table_args__ = (Index("ix_credit_states_status", "status", "since", "credit_code"),)

    credit_code: str = Field(primary_key=True, max_length=18)
    status: str = Field(max_length=16)
    since: datetime = Field(sa_column=utc_column())
    # When time alone may change the status next (NULL: never).
    next_check_at: datetime | None = Field(
        default=None, sa_column=utc_column(nullable=True, index=True)
    )


class CreditAudit(SupervisionModel, table=True):
    """Who changed a credit record by hand, when and why (append only)."""

    __tablename__ = "credit_audit"

    audit_id: str = Field(primary_key=True, max_length=40)
    credit_code: str = Field(max_length=18, index=True)
    record_id: str = Field(max_length=40)
    action: str = Field(max_length=32)
    actor: str = Field(max_length=200)
    reason: str = Field(max_length=1000)
    at: datetime = Field(sa_column=utc_column())


class StatCounter(SupervisionModel, table=True):
    """A statistic kept up to date event by event (never computed by scanning projects).

    `scope` is `*` (the platform) or a department code; `metric` e.g. `project_status`,
    `tasks`, `alerts_open`; `key` e.g. a status or `kind:level`.
    """

    __tablename__ = "stat_counters"

    scope: str = Field(primary_key=True, max_length=16)
    metric: str = Field(primary_key=True, max_length=32)
    key: str = Field(primary_key=True, max_length=64)
    value: float = 0.0


class StatSubmission(SupervisionModel, table=True):
    """Projects submitted per day, by region and by industry."""

    __tablename__ = "stat_submissions"
    dimension: str = Field(primary_key=True, max_length=16)  # "region" | "industry"
    day: date = Field(primary_key=True)
    key: str = Field(primary_key=True, max_length=16)
    count: int = 0
