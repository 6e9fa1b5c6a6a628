"""The event contract: CloudEvents 1.0 structured JSON with pydantic models of each `data`.

The wire format is plain JSON (no framework metadata), so any Kafka client in any language can
read the topics. Models ignore unknown fields so producers may add fields without breaking
consumers.
"""

from __future__ import annotations

import builtins
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

SPECVERSION = "1.0"
JSON = "application/json"


class ContractModel(BaseModel):
    """Base of every `data` model: tolerant reader (unknown fields are ignored)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


# --- event types -------------------------------------------------------------------------


class EventType(StrEnum):
    """Every CloudEvent `type` of the contract: the only place these strings are written.

    A `StrEnum`, so a member compares equal to the plain string read off the wire.
    """

    PROJECT_SUBMITTED = "project.submitted"
    PROJECT_FILED = "project.filed"
    PROJECT_SUPPLEMENT_REQUESTED = "project.supplement_requested"
    PROJECT_SUPPLEMENT_PROVIDED = "project.supplement_provided"
    PROJECT_APPROVED = "project.approved"
    PROJECT_REJECTED = "project.rejected"
    PROJECT_WITHDRAWN = "project.withdrawn"
    TASK_ASSIGNED = "approval.task.assigned"
    TASK_WITHDRAWN = "approval.task.withdrawn"
    DECISION_RECORDED = "approval.decision.recorded"
    DECISION_SUBMITTED = "approval.decision.submitted"
    REPORT_FILED = "supervision.report.filed"
    ALERT_RAISED = "supervision.alert.raised"
    ALERT_RESOLVED = "supervision.alert.resolved"
    CREDIT_RECORD_ADDED = "credit.record.added"
    CREDIT_STATUS_CHANGED = "credit.status.changed"
    NOTIFICATION_DELIVERED = "notification.delivered"
    NOTIFICATION_FAILED = "notification.failed"


PROJECT_EVENT_TYPES: frozenset[EventType] = frozenset(
    t for t in EventType if t.value.startswith("project.")
)
TASK_EVENT_TYPES: frozenset[EventType] = frozenset(
    {EventType.TASK_ASSIGNED, EventType.TASK_WITHDRAWN, EventType.DECISION_RECORDED}
)
FINAL_PROJECT_EVENT_TYPES: frozenset[EventType] = frozenset(
    {EventType.PROJECT_APPROVED, EventType.PROJECT_REJECTED, EventType.PROJECT_WITHDRAWN}
)


# --- sources ------------------------------------------------------------------------------


def source_of(producer: str) -> str:
    """The CloudEvents `source` of a producer of the platform, always spelled `/<producer>`."""
    return f"/{producer.strip('/')}"


APPROVAL_SOURCE = source_of("approval-svc")
SUPERVISION_SOURCE = source_of("supervision-svc")
NOTIFY_SOURCE = source_of("notify-svc")


def department_source(department: str) -> str:
    """The `source` of a department system's events, e.g. `/departments/MEE`."""
    return source_of(f"departments/{department}")


# --- data models -------------------------------------------------------------------------

TaskStatus = Literal["pending", "supplement_required", "approved", "rejected", "withdrawn"]
ProjectStatus = Literal[
    "submitted", "in_review", "supplement_required", "approved", "rejected", "filed", "withdrawn"
]
Procedure = Literal["approval", "verification", "filing"]
Decision = Literal["approved", "rejected", "supplement_required"]


class TaskData(ContractModel):
    task_id: str
    project_code: str
    department: str
    matter_code: str
    matter_name: str
    status: TaskStatus
    assigned_at: datetime
    due_at: datetime
    promised_due_at: datetime
    paused_days: int = 0
    decided_at: datetime | None = None
    decision: Decision | None = None
    opinion: str | None = None
    missing_materials: list[str] = Field(default_factory=list)
    document_number: str | None = None
    deemed: bool = False
    day_kind: Literal["working", "calendar"] = "working"
    legal_limit_days: int | None = None
    promised_limit_days: int | None = None
    # Joint punishment: "abnormal" when the enterprise was on the abnormal list at submission.
    credit_flag: Literal["abnormal"] | None = None


class LandData(ContractModel):
    needs_new_land: bool = False
    area_m2: Decimal | None = None


class ProjectData(ContractModel):
    project_code: str
    credit_code: str
    name: str
    region_code: str
    industry_code: str
    procedure: Procedure
    status: ProjectStatus
    total_investment: Decimal
    location: str | None = None
    planned_start: date | None = None
    description: str | None = None
    land: LandData = Field(default_factory=LandData)
    eia_category: Literal["report", "table", "registration", "none"] = "none"
    annual_energy_tce: Decimal | None = None
    building_area_m2: Decimal | None = None
    water_withdrawal: bool = False
    uses_forest_land: bool = False
    near_cultural_relics: bool = False
    hazardous_chemicals: bool = False
    in_flood_zone: bool = False
    foreign_investment: bool = False
    contact_email: str | None = None
    submitted_at: datetime
    updated_at: datetime | None = None
    credit_flag: Literal["abnormal"] | None = None
    tasks: list[TaskData] = Field(default_factory=list)


class DecisionSubmittedData(ContractModel):
    task_id: str
    department: str
    decision: Decision
    opinion: str | None = None
    missing_materials: list[str] = Field(default_factory=list)


class ReportData(ContractModel):
    report_id: str
    project_code: str
    kind: Literal["start", "progress", "completion", "change"]
    report_date: date
    progress_percent: Decimal | None = None
    invested_to_date: Decimal | None = None
    note: str | None = None
    planned_completion: date | None = None
    credit_code: str | None = None
    filed_at: datetime


class AlertData(ContractModel):
    alert_id: str
    project_code: str
    kind: str
    level: Literal["yellow", "red"]
    raised_at: datetime
    detail: str
    resolved_at: datetime | None = None
    credit_code: str | None = None
    department: str | None = None
    task_id: str | None = None


class CreditRecordData(ContractModel):
    """A credit record as the credit API shows it, plus the enterprise's credit code."""

    record_id: str
    credit_code: str
    severity: Literal["ordinary", "serious"]
    reason: str
    project_code: str | None = None
    alert_id: str | None = None
    created_at: datetime
    corrected_at: datetime | None = None
    correction_reason: str | None = None


class CreditStatusData(ContractModel):
    credit_code: str
    status: Literal["normal", "abnormal", "dishonest"]
    previous_status: Literal["normal", "abnormal", "dishonest"] | None = None
    changed_at: datetime


class DeliveryData(ContractModel):
    delivery_id: str
    subscription_id: str
    event_id: str
    event_type: str
    channel: str
    target: str
    status: Literal["delivered", "failed"]
    attempts: int
    error: str | None = None
    at: datetime


# Event type -> model of its `data`. A type missing here is still carried, just not typed.
EVENT_DATA_MODELS: dict[str, type[ContractModel]] = {
    EventType.PROJECT_SUBMITTED: ProjectData,
    EventType.PROJECT_FILED: ProjectData,
    EventType.PROJECT_SUPPLEMENT_REQUESTED: ProjectData,
    EventType.PROJECT_SUPPLEMENT_PROVIDED: ProjectData,
    EventType.PROJECT_APPROVED: ProjectData,
    EventType.PROJECT_REJECTED: ProjectData,
    EventType.PROJECT_WITHDRAWN: ProjectData,
    EventType.TASK_ASSIGNED: TaskData,
    EventType.TASK_WITHDRAWN: TaskData,
    EventType.DECISION_RECORDED: TaskData,
    EventType.DECISION_SUBMITTED: DecisionSubmittedData,
    EventType.REPORT_FILED: ReportData,
    EventType.ALERT_RAISED: AlertData,
    EventType.ALERT_RESOLVED: AlertData,
    EventType.CREDIT_RECORD_ADDED: CreditRecordData,
    EventType.CREDIT_STATUS_CHANGED: CreditStatusData,
    EventType.NOTIFICATION_DELIVERED: DeliveryData,
    EventType.NOTIFICATION_FAILED: DeliveryData,
}


# --- envelope ----------------------------------------------------------------------------


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 event in structured JSON mode, plus correlation extensions."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1, max_length=128)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    subject: str | None = None
    datacontenttype: str = JSON
    data: Any = None
    correlationid: str | None = None
    causationid: str | None = None

    # JSON format 1.0.2 section 2.2: an attribute whose value is null is unset. Said per field
    # and for the extensions after validation, not by rewriting the input dict before it: a
    # model-wide "before" validator makes pydantic build the whole event as Python objects
    # first and validate those, which cost every event parse about a quarter more.
    @field_validator("specversion", "id", "time", "datacontenttype", mode="before")
    @classmethod
    def _null_is_the_default(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name is not None:
            return cls.model_fields[info.field_name].get_default(call_default_factory=True)
        return value

    @model_validator(mode="after")
    def _null_extensions_are_unset(self) -> CloudEvent:
        extra = self.__pydantic_extra__
        if extra and None in extra.values():
            for name in [name for name, value in extra.items() if value is None]:
                del extra[name]
                self.__pydantic_fields_set__.discard(name)
        return self

    @field_validator("time")
    @classmethod
    def _aware_time(cls, value: datetime) -> datetime:
        # RFC 3339 needs an offset; a producer that omitted it is taken to mean UTC.
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

    def data_as(self, model: builtins.type[ContractModel]) -> Any:
        return model.model_validate(self.data)

    def typed_data(self) -> ContractModel | Any:
        """`data` parsed by the registry (raises `ValidationError` on a contract breach)."""
        return parse_data(self.type, self.data)

    def to_json(self) -> bytes:
        # Unset optional attributes are left out (the SDK rejects a null `subject`).
        # (Nulls inside `data` are kept: exclude_none applies to the envelope's fields.)
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> CloudEvent:
        return cls.model_validate_json(raw)

    def caused(
        self,
        *,
        type: str,
        source: str,
        data: Any,
        subject: str | None = None,
        time: datetime | None = None,
    ) -> CloudEvent:
        """A follow-up event: same correlation, caused by this one (`time`: platform time)."""
        return new_event(
            type=type,
            source=source,
            subject=subject if subject is not None else self.subject,
            data=data,
            cause=self,
            time=time,
        )


def parse_data(event_type: str, data: Any) -> ContractModel | Any:
    model = EVENT_DATA_MODELS.get(event_type)
    return model.model_validate(data) if model else data


def new_event(
    *,
    type: str,
    source: str,
    subject: str | None,
    data: Any,
    cause: CloudEvent | None = None,
    correlationid: str | None = None,
    time: datetime | None = None,
) -> CloudEvent:
    """Build an event; `data` may be a contract model (dumped in JSON mode) or plain JSON.

    The one place correlation and causation are set. With a `cause` (the event being handled)
    the new event joins its correlation (its `correlationid`, else its id: a foreign producer
    may not set one) and names it as `causationid`. Without one it has no cause and its
    correlation is `correlationid` (e.g. the id of the HTTP request that made it) or, when that
    is unset too, its own id: it starts a new correlation.
    """
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    event_id = str(uuid.uuid4())
    if cause is not None:
        correlationid = cause.correlationid or cause.id
    return CloudEvent(
        id=event_id,
        source=source,
        type=type,
        time=time or datetime.now(UTC),
        subject=subject,
        data=data,
        correlationid=correlationid or event_id,
        causationid=cause.id if cause is not None else None,
    )


__all__ = [
    "APPROVAL_SOURCE",
    "EVENT_DATA_MODELS",
    "FINAL_PROJECT_EVENT_TYPES",
    "NOTIFY_SOURCE",
    "PROJECT_EVENT_TYPES",
    "SUPERVISION_SOURCE",
    "TASK_EVENT_TYPES",
    "AlertData",
    "CloudEvent",
    "ContractModel",
    "CreditRecordData",
    "CreditStatusData",
    "DecisionSubmittedData",
    "DeliveryData",
    "EventType",
    "LandData",
    "ProjectData",
    "ReportData",
    "TaskData",
    "ValidationError",
    "department_source",
    "new_event",
    "source_of",
]
