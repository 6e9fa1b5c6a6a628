"""Response bodies of the supervision API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from supervision_svc.models import Alert


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


class Overview(BaseModel):
    as_of: datetime = Field(description="Platform time the counts refer to.")
    projects_total: int
    projects_by_status: dict[str, int]
    by_department: dict[str, DepartmentStats]
    alerts_by_level: dict[str, int] = Field(description="Open alerts by level.")
