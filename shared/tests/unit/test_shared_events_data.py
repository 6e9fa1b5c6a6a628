"""The typed data of events: one model per registered type, tolerant of additions, exact money."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from shared.events import (
    EVENT_DATA_MODELS,
    AlertData,
    CloudEvent,
    CreditRecordData,
    CreditStatusData,
    DecisionSubmittedData,
    DeliveryData,
    ProjectData,
    ReportData,
    TaskData,
    new_event,
    parse_data,
)

from shared_event_samples import NOW, PROJECT, TASK, _event

MINIMAL_DATA: dict[type, dict[str, Any]] = {
    TaskData: TASK,
    ProjectData: PROJECT,
    DecisionSubmittedData: {"task_id": "t-1", "department": "MEE", "decision": "approved"},
    ReportData: {
        "report_id": "r-1",
        "project_code": PROJECT["project_code"],
        "kind": "start",
        "report_date": "2025-03-04",
        "filed_at": NOW,
    },
    AlertData: {
        "alert_id": "a-1",
        "project_code": PROJECT["project_code"],
        "kind": "approval_overdue",
        "level": "yellow",
        "raised_at": NOW,
        "detail": "90% of the limit used",
    },
    CreditRecordData: {
        "record_id": "c-1",
        "credit_code": "91440300708461136T",
        "severity": "serious",
        "reason": "started before approval",
        "created_at": NOW,
    },
    CreditStatusData: {
        "credit_code": "91440300708461136T",
        "status": "abnormal",
        "previous_status": "normal",
        "changed_at": NOW,
    },
    DeliveryData: {
        "delivery_id": "d-1",
        "subscription_id": "s-1",
        "event_id": "e-1",
        "event_type": "project.approved",
        "channel": "webhook",
        "target": "https://example.invalid/hook",
        "status": "delivered",
        "attempts": 1,
        "at": NOW,
    },
}


def test_unknown_data_fields_are_ignored_by_typed_data_and_kept_in_the_envelope() -> None:
    data = {**TASK, "added_by_a_newer_producer": {"x": 1}}
    event = CloudEvent.from_json(_event(type="approval.task.assigned", data=data).to_json())

    typed = event.typed_data()

    assert isinstance(typed, TaskData)
    assert typed.task_id == "t-1"
    assert not hasattr(typed, "added_by_a_newer_producer")
    assert json.loads(event.to_json())["data"]["added_by_a_newer_producer"] == {"x": 1}


def test_typed_data_raises_on_a_contract_breach() -> None:
    event = _event(type="approval.task.assigned", data={**TASK, "status": "lost"})

    with pytest.raises(ValidationError):
        event.typed_data()


def test_untyped_event_types_carry_their_data_as_is() -> None:
    assert parse_data("some.future.type", {"a": [1, 2]}) == {"a": [1, 2]}


@pytest.mark.parametrize("event_type", sorted(EVENT_DATA_MODELS))
def test_every_registered_type_parses_a_minimal_payload(event_type: str) -> None:
    model = EVENT_DATA_MODELS[event_type]
    event = CloudEvent.from_json(_event(type=event_type, data=MINIMAL_DATA[model]).to_json())

    typed = event.typed_data()

    assert type(typed) is model
    # and a typed payload survives being re-emitted
    assert new_event(type=event_type, source="/s", subject="P", data=typed).typed_data() == typed


def test_registry_covers_every_contract_event_type() -> None:
    contract_types = {
        "project.submitted", "project.filed", "approval.task.assigned",
        "approval.decision.recorded", "project.supplement_requested",
        "project.supplement_provided", "project.approved", "project.rejected",
        "project.withdrawn", "approval.task.withdrawn", "approval.decision.submitted",
        "supervision.report.filed", "supervision.alert.raised", "supervision.alert.resolved",
        "credit.record.added", "credit.status.changed", "notification.delivered",
        "notification.failed",
    }  # fmt: skip
    assert contract_types <= set(EVENT_DATA_MODELS)


def test_money_in_data_stays_exact() -> None:
    event = CloudEvent.from_json(_event().to_json())

    project = event.data_as(ProjectData)

    assert project.total_investment == Decimal("12345.67")
    assert isinstance(project.total_investment, Decimal)
