"""Faust consumers of the approval service: decisions that department systems send over Kafka,
and the credit statuses supervision publishes (joint punishment).

Each handler decodes the CloudEvent's data, builds the same command the HTTP route builds and
calls the use case inside the consumer batch's transaction (``EnlistedUnitOfWork``). A decision
that can never apply is rejected to the dead-letter topic with the reason.

A decision is trusted only when its `authtoken` extension attribute is a decision token of the
department it names (``shared.decision_token``); the `department` field alone proves nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from approval_svc import handlers
from approval_svc.domain.commands import Actor
from approval_svc.domain.credit import CreditStanding, CreditStatus
from approval_svc.domain.errors import DomainError
from approval_svc.domain.identifiers import is_project_code
from approval_svc.metrics import DECISIONS_REFUSED
from approval_svc.schemas import DecisionIn
from approval_svc.unit_of_work import EnlistedUnitOfWork
from shared.clock import Clock
from shared.consumer import Handler, RejectEvent
from shared.decision_token import AUTHTOKEN_ATTRIBUTE, DecisionTokenRefused, verify_decision_token
from shared.events import CloudEvent, CreditStatusData, DecisionSubmittedData, EventType
from shared.outbox import UnitOfWork as OutboxUnitOfWork


def decision_handlers(*, clock: Clock, jwt_secret: str) -> dict[str, Handler]:
    async def on_decision_submitted(event: CloudEvent, batch: OutboxUnitOfWork) -> None:
        try:
            data = DecisionSubmittedData.model_validate(event.data)
            # The same validation as the HTTP body's.
            body = DecisionIn(
                decision=data.decision,
                opinion=data.opinion,
                missing_materials=data.missing_materials,
            )
        except ValidationError as exc:
            raise RejectEvent(f"invalid decision data: {exc.errors(include_url=False)}") from None
        token = (event.model_extra or {}).get(AUTHTOKEN_ATTRIBUTE)
        try:
            verify_decision_token(token, jwt_secret, department=data.department)
        except DecisionTokenRefused as exc:
            raise RejectEvent(
                f"unauthenticated decision: {exc}",
                on_dead_letter=DECISIONS_REFUSED.labels(exc.kind).inc,
            ) from None
        # The department named in the event is the deciding one: the same ownership, state
        # and materials checks as the HTTP route apply.
        command = body.command(
            task_id=data.task_id,
            department=data.department,
            actor=Actor(f"{data.department} system", "department"),
            causation=event,
        )
        try:
            uow = EnlistedUnitOfWork.of(batch)
            await handlers.decide_task(command=command, uow=uow, clock=clock)
        except DomainError as exc:
            raise RejectEvent(f"{type(exc).__name__}: {exc.message}") from None

    return {EventType.DECISION_SUBMITTED: on_decision_submitted}


async def preload_decided_projects(events: Sequence[CloudEvent], batch: OutboxUnitOfWork) -> None:
    """Before a batch of decisions: the projects of all their tasks, read and locked at once
    (a malformed event is left to its handler, which rejects it)."""
    task_ids: list[str] = []
    codes: list[str] = []
    for event in events:
        if (
            event.type == EventType.DECISION_SUBMITTED
            and isinstance(event.data, dict)
            and isinstance(task_id := event.data.get("task_id"), str)
        ):
            task_ids.append(task_id)
            # The contract's subject is the project code: read by it first, which spares
            # looking the codes up by task (a wrong subject only costs that lookup again).
            if event.subject and is_project_code(event.subject):
                codes.append(event.subject)
    if task_ids:
        await EnlistedUnitOfWork.of(batch).projects.preload_tasks(task_ids, codes=codes)


def credit_handlers(*, clock: Clock) -> dict[str, Handler]:
    """``credit.status.changed`` from ``supervision.alerts`` keeps this service's own view of
    credit statuses; the topic's other events (alerts, credit records) are not for us."""

    async def on_credit_status_changed(event: CloudEvent, batch: OutboxUnitOfWork) -> None:
        try:
            data = CreditStatusData.model_validate(event.data)
        except ValidationError as exc:
            raise RejectEvent(f"invalid credit status: {exc.errors(include_url=False)}") from None
        standing = CreditStanding(data.credit_code, CreditStatus(data.status), data.changed_at)
        await handlers.record_credit_status(
            standing=standing, uow=EnlistedUnitOfWork.of(batch), clock=clock
        )

    return {EventType.CREDIT_STATUS_CHANGED: on_credit_status_changed}
