"""What happens to each consumed event, inside the consumer's batch transaction.

Per event: feed the audience projection (only events that introduce a project or a task),
record the built-in log delivery, and record one pending delivery per subscription that wants
the event and may see it. Rows are buffered and written with one executemany per table when
the batch commits (`notify_svc.txn`); the log line, the stream broadcast and the delivery
worker's wake-up happen after the commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlmodel.ext.asyncio.session import AsyncSession

from notify_svc.broadcast import Broadcaster
from notify_svc.directory import ProjectDirectory, SubscriptionDirectory
from notify_svc.domain import (
    BUILTIN_LOG_SUBSCRIPTION,
    LOG_CHANNEL,
    PROJECT_INTRODUCING_TYPES,
    Audience,
    EventFacts,
    audience_of,
    facts_of,
    may_see,
    needs_projection,
)
from notify_svc.models import AudienceDepartment, AudienceProject, Delivery, DeliveryBody
from notify_svc.txn import after_commit, insert_later
from shared.clock import Clock
from shared.events import CloudEvent
from shared.outbox import UnitOfWork
from shared.topics import APPROVAL_PROJECTS, SUPERVISION_ALERTS, SUPERVISION_REPORTS

CONSUMER_NAME = "notify-events"
TOPICS: tuple[str, ...] = (APPROVAL_PROJECTS, SUPERVISION_ALERTS, SUPERVISION_REPORTS)
INGESTED_TYPES: tuple[str, ...] = (
    "project.submitted",
    "project.filed",
    "approval.task.assigned",
    "approval.decision.recorded",
    "project.supplement_requested",
    "project.supplement_provided",
    "project.approved",
    "project.rejected",
    "project.withdrawn",
    "approval.task.withdrawn",
    "supervision.report.filed",
    "supervision.alert.raised",
    "supervision.alert.resolved",
    "credit.record.added",
)

_DELIVERY_NAMESPACE = uuid.UUID("6f1c1f5e-8b0a-4c55-9d3e-3f1f0a7c2b11")


def delivery_id(subscription_id: str, event_id: str) -> str:
    """Deterministic: one event reaches one subscription at most once (a unique key)."""
    return str(uuid.uuid5(_DELIVERY_NAMESPACE, f"{subscription_id}\n{event_id}"))


DELIVERIES = cast(Table, Delivery.__table__)  # type: ignore[attr-defined]
BODIES = cast(Table, DeliveryBody.__table__)  # type: ignore[attr-defined]
PROJECT_OWNERS = cast(Table, AudienceProject.__table__)  # type: ignore[attr-defined]
PROJECT_DEPARTMENTS = cast(Table, AudienceDepartment.__table__)  # type: ignore[attr-defined]


def delivery_row(
    *,
    subscription_id: str,
    channel: str,
    target: str,
    event: CloudEvent,
    project_code: str | None,
    now: datetime,
    delivered: bool,
) -> dict[str, Any]:
    """A delivery as written: delivered at once (log channel) or pending (due now)."""
    return {
        "delivery_id": delivery_id(subscription_id, event.id),
        "subscription_id": subscription_id,
        "event_id": event.id,
        "event_type": event.type,
        "project_code": project_code,
        "channel": channel,
        "target": target,
        "status": "delivered" if delivered else "pending",
        "attempts": 1 if delivered else 0,
        "error": None,
        "created_at": now,
        "at": now,
        "next_attempt_at": None if delivered else now,
        "attempt_log": (
            [{"attempt": 1, "at": now.isoformat(), "status": "delivered"}] if delivered else []
        ),
    }


class EventIngest:
    def __init__(
        self,
        *,
        clock: Clock,
        subscriptions: SubscriptionDirectory,
        projects: ProjectDirectory,
        broadcaster: Broadcaster,
        log_channel: Callable[[CloudEvent], None],
        wake_worker: Callable[[], None],
    ) -> None:
        self._clock = clock
        self._subscriptions = subscriptions
        self._projects = projects
        self._broadcaster = broadcaster
        self._log_channel = log_channel
        self._wake_worker = wake_worker

    async def handle(self, event: CloudEvent, uow: UnitOfWork) -> None:
        """The stream handler of every ingested type (reads may query; writes are buffered)."""
        session = uow.session
        now = self._clock.now()
        facts = facts_of(event.type, event.subject, event.data)
        candidates = (await self._subscriptions.index(session)).matching(event.type)
        audience: Audience | None = None
        if any(not s.viewer.is_ops for s in candidates) or self._broadcaster.restricted:
            audience = await self._audience(session, facts)
        matched = [s for s in candidates if may_see(s.viewer, audience)]

        # From here on nothing fails: buffer the rows (written when the batch commits).
        self._project(session, event.type, facts)
        insert_later(
            session,
            DELIVERIES,
            delivery_row(
                subscription_id=BUILTIN_LOG_SUBSCRIPTION,
                channel=LOG_CHANNEL,
                target=LOG_CHANNEL,
                event=event,
                project_code=facts.project_code,
                now=now,
                delivered=True,
            ),
        )
        if matched:
            insert_later(
                session, BODIES, {"event_id": event.id, "body": event.to_json(), "created_at": now}
            )
            for sub in matched:
                row = delivery_row(
                    subscription_id=sub.id,
                    channel=sub.channel,
                    target=sub.target,
                    event=event,
                    project_code=facts.project_code,
                    now=now,
                    delivered=False,
                )
                insert_later(session, DELIVERIES, row)
            after_commit(session, self._wake_worker)
        broadcaster = self._broadcaster

        def announce() -> None:
            self._log_channel(event)
            if broadcaster.active:
                broadcaster.publish(event, audience)

        after_commit(session, announce)

    async def _audience(self, session: AsyncSession, facts: EventFacts) -> Audience:
        known = None
        if facts.project_code is not None and needs_projection(facts):
            known = await self._projects.lookup(session, facts.project_code)
        return audience_of(facts, known)

    def _project(self, session: AsyncSession, event_type: str, facts: EventFacts) -> None:
        """Feed the projection from events that introduce a project or a task."""
        code = facts.project_code
        if code is None:
            return
        if event_type in PROJECT_INTRODUCING_TYPES and facts.credit_code:
            insert_later(
                session, PROJECT_OWNERS, {"project_code": code, "credit_code": facts.credit_code}
            )
        elif not (event_type == "approval.task.assigned" and facts.departments):
            return
        for department in facts.departments:
            insert_later(
                session, PROJECT_DEPARTMENTS, {"project_code": code, "department": department}
            )
        self._projects.remember(code, facts.credit_code, facts.departments)
