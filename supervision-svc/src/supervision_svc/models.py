"""Tables of the supervision service (its own database).

The models live in their own SQLAlchemy registry, not in `SQLModel.metadata`: approval-svc
also has tables named `projects` and `tasks`, and both services are imported by the same
process in workspace-wide test runs. The shared tables (outbox, processed events, relay
lease) are copied into this metadata so the migrations create them too.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index, MetaData, Table
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shared.db import SHARED_TABLES, utc_column

__all__ = ["Alert", "ProjectView", "TaskView", "metadata"]


class SupervisionModel(SQLModel, registry=registry()):
    """Base of every table of this service (own metadata)."""


metadata: MetaData = SupervisionModel.metadata

for _shared in SHARED_TABLES:
    # `__table__` is set on table models by the metaclass; their declared type does not show it.
    _table: Table = _shared.__table__  # type: ignore[attr-defined,union-attr]
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


class TaskView(SupervisionModel, table=True):
    """A department task as approval-svc last told us."""

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_status_yellow", "status", "yellow_at"),
        Index("ix_tasks_dept_status", "department", "status"),
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
    )

    alert_id: str = Field(primary_key=True, max_length=40)
    project_code: str = Field(max_length=32, index=True)
    kind: str = Field(max_length=40)
    level: str = Field(max_length=8)
    raised_at: datetime = Field(sa_column=utc_column())
    detail: str = Field(max_length=1000)
    resolved_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    credit_code: str | None = Field(default=None, max_length=18)
    department: str | None = Field(default=None, max_length=16, index=True)
    task_id: str | None = Field(default=None, max_length=40)
    # `kind:subject:level` while open, NULL once resolved: a unique key, so the same alert
    # is never open twice even if two sweepers race.
    open_key: str | None = Field(default=None, max_length=160, unique=True)
