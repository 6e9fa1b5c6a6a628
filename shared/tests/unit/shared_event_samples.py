"""Sample event payloads and a builder for the event contract tests."""

from __future__ import annotations

from typing import Any

from shared.events import CloudEvent, new_event

NOW = "2025-03-04T05:06:07+00:00"

TASK = {
    "task_id": "t-1",
    "project_code": "2503-110105-03-01-000017",
    "department": "MEE",
    "matter_code": "MEE-EIA",
    "matter_name": "EIA approval",
    "status": "pending",
    "assigned_at": NOW,
    "due_at": NOW,
    "promised_due_at": NOW,
}
PROJECT = {
    "project_code": "2503-110105-03-01-000017",
    "credit_code": "91440300708461136T",
    "name": "Plant",
    "region_code": "110105",
    "industry_code": "C26",
    "procedure": "approval",
    "status": "submitted",
    "total_investment": "12345.67",
    "submitted_at": NOW,
}


def _event(
    *, correlationid: str | None = None, causationid: str | None = None, **overrides: Any
) -> CloudEvent:
    fields: dict[str, Any] = {
        "type": "project.submitted",
        "source": "/approval-svc",
        "subject": PROJECT["project_code"],
        "data": PROJECT,
    }
    fields.update(overrides)
    event = new_event(**fields)
    # As read off the wire: any producer may have set its own correlation and causation.
    ids = {"correlationid": correlationid, "causationid": causationid}
    return event.model_copy(update={k: v for k, v in ids.items() if v is not None})
