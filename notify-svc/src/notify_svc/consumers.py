"""The faust consumer of the notify service: decode, dispatch on the CloudEvent `type`, call
a handler.

One idempotent consumer (`CONSUMER_NAME`, its own dedupe namespace) reads the topics whose
events people may be told about. The shared event processor (`shared.consumer`) decodes each
batch, drops redeliveries and commits the batch in one transaction; every ingested type goes
to `handlers.ingest_event`, inside that transaction. Types not listed are ignored (counted as
such), so a new event type reaches subscribers only once it is added here.
"""

from __future__ import annotations

from notify_svc import handlers
from notify_svc.caches import Caches
from notify_svc.unit_of_work import SqlUnitOfWork
from shared.clock import Clock
from shared.consumer import Handler
from shared.events import CloudEvent, EventType
from shared.outbox import UnitOfWork as OutboxUnitOfWork
from shared.runtime import ServiceRuntime
from shared.topics import APPROVAL_PROJECTS, SUPERVISION_ALERTS, SUPERVISION_REPORTS

CONSUMER_NAME = "notify-events"
TOPICS: tuple[str, ...] = (APPROVAL_PROJECTS, SUPERVISION_ALERTS, SUPERVISION_REPORTS)
INGESTED_TYPES: tuple[EventType, ...] = (
    EventType.PROJECT_SUBMITTED,
    EventType.PROJECT_FILED,
    EventType.TASK_ASSIGNED,
    EventType.DECISION_RECORDED,
    EventType.PROJECT_SUPPLEMENT_REQUESTED,
    EventType.PROJECT_SUPPLEMENT_PROVIDED,
    EventType.PROJECT_APPROVED,
    EventType.PROJECT_REJECTED,
    EventType.PROJECT_WITHDRAWN,
    EventType.TASK_WITHDRAWN,
    EventType.REPORT_FILED,
    EventType.ALERT_RAISED,
    EventType.ALERT_RESOLVED,
    EventType.CREDIT_RECORD_ADDED,
)


def ingest_handler(*, caches: Caches, clock: Clock, announce: handlers.Announce) -> Handler:
    """The processor's handler of every ingested type: joins the batch's transaction."""

    async def ingest(event: CloudEvent, batch: OutboxUnitOfWork) -> None:
        await handlers.ingest_event(
            SqlUnitOfWork.joining(batch, caches),
            event=event,
            now=clock.now(),
            announce=announce,
        )

    return ingest


def register_consumers(
    runtime: ServiceRuntime, *, caches: Caches, announce: handlers.Announce
) -> None:
    ingest = ingest_handler(caches=caches, clock=runtime.clock, announce=announce)
    runtime.consume(
        CONSUMER_NAME, topics=TOPICS, handlers={t.value: ingest for t in INGESTED_TYPES}
    )
