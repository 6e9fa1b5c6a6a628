"""Use cases of credit: records left by red alerts, corrections by ops, the status they add up to.

Every new record is published as `credit.record.added` and every status change as
`credit.status.changed`, both on `supervision.alerts` with the credit code as subject and key
(approval-svc keeps its view of credit statuses from them: joint punishment).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from shared.events import (
    SUPERVISION_SOURCE,
    CloudEvent,
    CreditRecordData,
    CreditStatusData,
    EventType,
    new_event,
)
from shared.topics import SUPERVISION_ALERTS
from supervision_svc.domain.credit import RecordFacts, credit_status, next_change_at, severity_of
from supervision_svc.domain.errors import Conflict, NotFound
from supervision_svc.domain.thresholds import Thresholds
from supervision_svc.metrics import CREDIT_STATUS_CHANGES
from supervision_svc.models import Alert, CreditAudit, CreditRecord, CreditState
from supervision_svc.unit_of_work import SupervisionUnitOfWork


def record_data(record: CreditRecord) -> CreditRecordData:
    return CreditRecordData.model_validate(record, from_attributes=True)


def _emit(
    uow: SupervisionUnitOfWork,
    event_type: EventType,
    credit_code: str,
    data: CreditRecordData | CreditStatusData,
    *,
    now: datetime,
    cause: CloudEvent | None,
) -> None:
    event = new_event(
        type=event_type,
        source=SUPERVISION_SOURCE,
        subject=credit_code,
        data=data,
        time=now,
        cause=cause,
    )
    uow.emit(event, SUPERVISION_ALERTS, key=credit_code)


async def record_red_alert(
    uow: SupervisionUnitOfWork,
    *,
    alert: Alert,
    now: datetime,
    rules: Thresholds,
    cause: CloudEvent | None = None,
) -> CreditRecord | None:
    """The record a red alert leaves (once per alert), and the status it leads to."""
    severity = severity_of(alert.kind)
    if severity is None or not alert.credit_code:
        return None
    record = CreditRecord(
        record_id=str(uuid.uuid4()),
        credit_code=alert.credit_code,
        project_code=alert.project_code,
        severity=severity,
        reason=f"{alert.kind} red on project {alert.project_code}: {alert.detail}"[:1000],
        alert_id=alert.alert_id,
        created_at=now,
    )
    if not await uow.credit.add_record(record):
        return None  # this alert already left its record
    _emit(
        uow,
        EventType.CREDIT_RECORD_ADDED,
        record.credit_code,
        record_data(record),
        now=now,
        cause=cause,
    )
    await refresh_status(uow, credit_code=record.credit_code, now=now, rules=rules, cause=cause)
    return record


async def refresh_status(
    uow: SupervisionUnitOfWork,
    *,
    credit_code: str,
    now: datetime,
    rules: Thresholds,
    cause: CloudEvent | None = None,
) -> CreditState:
    """Recompute an enterprise's status from its records; announce it if it changed."""
    records = await uow.credit.records_of(credit_code)
    facts = [
        RecordFacts(r.severity, r.created_at, corrected=r.corrected_at is not None) for r in records
    ]
    status = credit_status(facts, now=now, thresholds=rules)
    state = await uow.credit.state_of(credit_code)
    previous = state.status if state is not None else "normal"
    if state is None:
        state = CreditState(credit_code=credit_code, status=status, since=now)
    elif state.status != status:
        state.status, state.since = status, now
    state.next_check_at = next_change_at(facts, now=now, thresholds=rules)
    uow.credit.put_state(state)
    if status != previous:
        data = CreditStatusData(
            credit_code=credit_code,
            status=status,
            previous_status=previous,
            changed_at=now,
        )
        _emit(uow, EventType.CREDIT_STATUS_CHANGED, credit_code, data, now=now, cause=cause)
        CREDIT_STATUS_CHANGES.labels(status).inc()
    return state


async def correct_record(
    uow: SupervisionUnitOfWork,
    *,
    credit_code: str,
    record_id: str,
    reason: str,
    actor: str,
    now: datetime,
    rules: Thresholds,
) -> CreditRecord:
    """Ops marks a record corrected, with a reason (audited); the status is recomputed."""
    record = await uow.credit.get_record(record_id)
    if record is None or record.credit_code != credit_code:
        raise NotFound(f"credit record {record_id} of {credit_code}")
    if record.corrected_at is not None:
        raise Conflict(f"credit record {record_id} was already corrected at {record.corrected_at}")
    record.corrected_at, record.correction_reason, record.corrected_by = now, reason, actor
    uow.credit.update_record(record)
    uow.credit.audit(
        CreditAudit(
            audit_id=str(uuid.uuid4()),
            credit_code=credit_code,
            record_id=record_id,
            action="correct",
            actor=actor,
            reason=reason,
            at=now,
        )
    )
    await refresh_status(uow, credit_code=credit_code, now=now, rules=rules)
    return record
