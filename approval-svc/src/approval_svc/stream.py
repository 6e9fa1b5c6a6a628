"""Thin stream handlers: decisions that department systems send over Kafka."""

from __future__ import annotations

from pydantic import ValidationError

from approval_svc import handlers
from approval_svc.domain.errors import DomainError
from approval_svc.schemas import DecisionIn
from shared.clock import Clock
from shared.consumer import Handler, RejectEvent
from shared.events import CloudEvent, DecisionSubmittedData
from shared.outbox import UnitOfWork


def decision_handlers(*, clock: Clock) -> dict[str, Handler]:
    async def on_decision_submitted(event: CloudEvent, uow: UnitOfWork) -> None:
        try:
            data = DecisionSubmittedData.model_validate(event.data)
            body = DecisionIn(
                decision=data.decision,
                opinion=data.opinion,
                missing_materials=data.missing_materials,
            )
        except ValidationError as exc:
            raise RejectEvent(f"invalid decision data: {exc.errors(include_url=False)}") from None
        try:
            # The department named in the event is the deciding one: the same ownership,
            # state and materials checks as the HTTP route apply.
            await handlers.decide_task(
                uow=uow,
                clock=clock,
                task_id=data.task_id,
                department=data.department,
                body=body,
                actor=handlers.Actor(f"{data.department} system", "department"),
                causation=event,
                commit=False,
            )
        except DomainError as exc:
            raise RejectEvent(f"{type(exc).__name__}: {exc.message}") from None

    return {"approval.decision.submitted": on_decision_submitted}
