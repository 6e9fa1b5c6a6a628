"""Response bodies of the supervision API."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from supervision_svc.models import Alert, CreditRecord, Report


class AlertOut(BaseModel):
    alert_id: str
    project_code: str
    kind: str
    level: Literal["yellow", "red"]
    raised_at: datetime
    detail: str
    resolved_at: datetime | None = None
    department: str | None = None
    task_id: str | None = None
    escalated_at: datetime | None = None

    @classmethod
    def of(cls, alert: Alert) -> AlertOut:
        return cls.model_validate(alert, from_attributes=True)


class DepartmentStats(BaseModel):
    pending: int = Field(0, description="Tasks waiting on the department.")
    overdue: int = Field(0, description="Pending tasks past their due date (platform clock).")
    decided: int = Field(0, description="Tasks approved or rejected.")
    awaiting_supplement: int = Field(0, description="Tasks paused for the enterprise.")
    mean_decision_hours: float | None = Field(
        None, description="Mean time from assignment to decision, in platform hours."
    )
    on_time_rate: float | None = Field(
        None, description="Share of decided tasks decided by their due date (0-1)."
    )


class Overview(BaseModel):
    as_of: datetime = Field(description="Platform time the counts refer to.")
    projects_total: int
    projects_by_status: dict[str, int]
    by_department: dict[str, DepartmentStats]
    alerts_by_level: dict[str, int] = Field(description="Open alerts by level.")
    alerts_by_kind: dict[str, int] = Field(description="Open alerts by kind.")


class SubmissionCount(BaseModel):
    day: date
    key: str = Field(description="Region code or industry code.")
    count: int


class Submissions(BaseModel):
    items: list[SubmissionCount]


# --- reports, the supervision view, credit --------------------------------------------------

# The documented schema states what is surely accepted (a whole number, or a decimal string of
# that shape; a JSON number with a fraction is accepted too, but binary floats cannot promise
# two decimal places), so input generated from the OpenAPI document never meets a surprise 422.
Percent = Annotated[
    Decimal,
    Field(ge=0, le=100, max_digits=6, decimal_places=2, allow_inf_nan=False),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": 100},
                {"type": "string", "pattern": r"^(100(\.0{1,2})?|\d{1,2}(\.\d{1,2})?)$"},
            ]
        }
    ),
]
Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=18, decimal_places=2, allow_inf_nan=False),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": 9_999_999_999_999_999},
                {"type": "string", "pattern": r"^\d{1,16}(\.\d{1,2})?$"},
            ]
        }
    ),
]
# A percentage is shown as a JSON number (it is not money: no exactness to keep as a string).
PercentOut = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    kind: Literal["start", "progress", "completion", "change"]
    report_date: date
    progress_percent: Percent | None = None
    invested_to_date: Money | None = None
    note: str | None = Field(None, max_length=2000)
    planned_completion: date | None = Field(None, description="Only on a start report.")


class ReportOut(BaseModel):
    report_id: str
    project_code: str
    kind: str
    report_date: date
    progress_percent: PercentOut | None = None
    invested_to_date: Decimal | None = None
    note: str | None = None
    planned_completion: date | None = None
    filed_at: datetime

    @classmethod
    def of(cls, report: Report) -> ReportOut:
        return cls.model_validate(report, from_attributes=True)


class SupervisionView(BaseModel):
    project_code: str
    light: Literal["green", "yellow", "red"]
    open_alerts: list[AlertOut]
    last_report: ReportOut | None
    expected_progress_percent: float | None
    reported_progress_percent: PercentOut | None


class CreditRecordOut(BaseModel):
    record_id: str
    project_code: str | None
    severity: Literal["ordinary", "serious"]
    reason: str
    alert_id: str | None
    created_at: datetime
    corrected_at: datetime | None
    correction_reason: str | None

    @classmethod
    def of(cls, record: CreditRecord) -> CreditRecordOut:
        return cls.model_validate(record, from_attributes=True)


class CreditOut(BaseModel):
    credit_code: str
    status: Literal["normal", "abnormal", "dishonest"]
    records: list[CreditRecordOut]


class CorrectionIn(BaseModel):
    reason: str = Field(min_length=1, max_length=1000)


class DishonestEntry(BaseModel):
    credit_code: str
    since: datetime
