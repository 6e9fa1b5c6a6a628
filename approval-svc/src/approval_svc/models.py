"""Tables of the approval service (its own database; shared tables come from `shared.db`)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, Index, Integer, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from shared.db import SHARED_TABLES, decimal_column, utc_column

__all__ = ["SHARED_TABLES"]


class Project(SQLModel, table=True):
    __tablename__ = "projects"
    __table_args__ = (
        Index("ix_projects_credit_submitted", "credit_code", "submitted_at"),
        Index("ix_projects_status_submitted", "status", "submitted_at"),
        # The list filtered by region or procedure, newest first, without sorting the matches.
        Index("ix_projects_region_submitted", "region_code", "submitted_at"),
        Index("ix_projects_procedure_submitted", "procedure", "submitted_at"),
    )

    project_code: str = Field(primary_key=True, max_length=32)
    credit_code: str = Field(max_length=18)
    name: str = Field(max_length=200)
    region_code: str = Field(max_length=6)
    industry_code: str = Field(max_length=8)
    procedure: str = Field(max_length=16)
    status: str = Field(max_length=32)
    total_investment: Decimal = Field(sa_column=decimal_column(nullable=False))
    location: str | None = Field(default=None, max_length=500)
    planned_start: date | None = None
    description: str | None = Field(default=None, max_length=5000)
    # The trigger fields as submitted (land, eia_category, energy, ...): kept verbatim for
    # the record; routing already turned them into tasks.
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    submitted_at: datetime = Field(sa_column=utc_column(index=True))
    updated_at: datetime = Field(sa_column=utc_column())
    # Joint punishment: "abnormal" when the enterprise was abnormal at submission.
    credit_flag: str | None = Field(default=None, max_length=16)


class Task(SQLModel, table=True):
    __tablename__ = "tasks"
    __table_args__ = (
        # A project's tasks; with the department, whether a department may see the project
        # (the department's project list asks it of every project it pages through).
        Index("ix_tasks_project_department", "project_code", "department"),
        # A department's task list in its order (assigned_at, task_id), with a status filter
        # and without one: the database reads the page from an index, no sort of every task.
        Index("ix_tasks_dept_status_assigned", "department", "status", "assigned_at", "task_id"),
        Index("ix_tasks_dept_assigned", "department", "assigned_at", "task_id"),
        Index("ix_tasks_status_due", "status", "due_at"),
        # The public results, newest decision first: only tasks with a document number.
        Index(
            "ix_tasks_disclosed",
            "decided_at",
            "task_id",
            sqlite_where=text("document_number IS NOT NULL"),
            postgresql_where=text("document_number IS NOT NULL"),
        ),
    )

    task_id: str = Field(primary_key=True, max_length=40)
    project_code: str = Field(foreign_key="projects.project_code", max_length=32)
    position: int = 0
    department: str = Field(max_length=16)
    matter_code: str = Field(max_length=40)
    matter_name: str = Field(max_length=200)
    status: str = Field(max_length=32)
    consultative: bool = False
    day_kind: str = Field(max_length=16)
    legal_limit_days: int
    promised_limit_days: int
    assigned_at: datetime = Field(sa_column=utc_column())
    due_at: datetime = Field(sa_column=utc_column())
    promised_due_at: datetime = Field(sa_column=utc_column())
    paused_days: int = 0
    paused_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    decided_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    decision: str | None = Field(default=None, max_length=32)
    opinion: str | None = Field(default=None, max_length=5000)
    missing_materials: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    document_number: str | None = Field(default=None, max_length=64, unique=True)
    deemed: bool = False
    # When a consulted department's silence becomes consent (consultative matters only).
    reply_due_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # The project's flag, copied so that a department's task list needs no join.
    credit_flag: str | None = Field(default=None, max_length=16)


class TimelineEntry(SQLModel, table=True):
    """The audit trail: every step of a project, who did it and when."""

    __tablename__ = "timeline"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    project_code: str = Field(max_length=32, index=True)
    at: datetime = Field(sa_column=utc_column())
    action: str = Field(max_length=64)
    actor: str = Field(max_length=128)
    actor_role: str = Field(max_length=16)
    task_id: str | None = Field(default=None, max_length=40)
    department: str | None = Field(default=None, max_length=16)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    event_id: str | None = Field(default=None, max_length=64)


class CodeSequence(SQLModel, table=True):
    """Last serial handed out per code prefix: serials are never reused."""

    __tablename__ = "code_sequences"

    prefix: str = Field(primary_key=True, max_length=32)
    last_serial: int = 0


class DocumentSequence(SQLModel, table=True):
    """Document numbers `DEPT-YYYY-NNNNNN` per department and year."""

    __tablename__ = "document_sequences"

    department: str = Field(primary_key=True, max_length=16)
    year: int = Field(primary_key=True)
    last_serial: int = 0


class IdempotencyRecord(SQLModel, table=True):
    """The first response to a request with an `Idempotency-Key`, replayed on retries."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("owner", "key"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    owner: str = Field(max_length=64)
    key: str = Field(max_length=255)
    request_hash: str = Field(max_length=64)
    status_code: int
    response: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=utc_column())


class CreditStanding(SQLModel, table=True):
    """This service's own view of each enterprise's credit status, from supervision's
    `credit.status.changed` events (joint punishment); the newest `changed_at` wins."""

    __tablename__ = "credit_statuses"

    credit_code: str = Field(primary_key=True, max_length=18)
    status: str = Field(max_length=16)
    changed_at: datetime = Field(sa_column=utc_column())
    updated_at: datetime = Field(sa_column=utc_column())


metadata = SQLModel.metadata
