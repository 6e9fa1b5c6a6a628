"""Use cases of consumed events: events into deliveries, and delivery attempts.

`ingest_event` runs inside the consumer's batch transaction (the batch commits); the others
commit their unit of work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from notify_svc.domain import (
    BUILTIN_LOG_SUBSCRIPTION,
    CONTACT_EMAIL_SUBSCRIPTION,
    CONTACT_EMAIL_TYPES,
    LOG_CHANNEL,
    AttemptResult,
    Audience,
    EventFacts,
    RetryPolicy,
    any_restricted,
    audience_of,
    facts_of,
    needs_projection,
    new_delivery,
    outcome_of_attempt,
    projection_update,
    recipients,
    target_problem,
)
from notify_svc.repository import Claimed
from notify_svc.unit_of_work import NotifyUnitOfWork
from shared.events import NOTIFY_SOURCE, CloudEvent, DeliveryData
from shared.topics import NOTIFY_DELIVERIES

log = logging.getLogger(__name__)


# --- events into deliveries ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Announce:
    """What happens once an ingested event is committed (never before, never if it is not)."""

    log_channel: Callable[[CloudEvent], None]
    wake_worker: Callable[[], None]


async def ingest_event(
    uow: NotifyUnitOfWork, *, event: CloudEvent, now: datetime, announce: Announce
) -> None:
    """One consumed event: feed the audience projection, record the log channel's delivery,
    a pending delivery for each subscription that wants the event and may see it, and one
    to the submission's contact address when the event is one it is told about; after the
    commit, write the log line and wake the delivery worker.
    """
    facts = facts_of(event.type, event.subject, event.data)
    candidates = await uow.subscriptions.matching(event.type)
    audience: Audience | None = None
    if any_restricted(candidates):
        audience = await _audience(uow, facts)
    matched = [(sub.id, sub.channel, sub.target) for sub in recipients(candidates, audience)]
    if (contact := await _contact_address(uow, event.type, facts)) is not None:
        matched.append((CONTACT_EMAIL_SUBSCRIPTION, "email", contact))

    # From here on nothing fails: the rows are buffered (written when the batch commits).
    if (update := projection_update(event.type, facts)) is not None:
        uow.audience.add(update)
    uow.deliveries.add(
        new_delivery(
            subscription_id=BUILTIN_LOG_SUBSCRIPTION,
            channel=LOG_CHANNEL,
            target=LOG_CHANNEL,
            event_id=event.id,
            event_type=event.type,
            project_code=facts.project_code,
            now=now,
            delivered=True,
        )
    )
    if matched:
        uow.deliveries.add_body(event.id, event.to_json(), now=now)
        for subscription_id, channel, target in matched:
            uow.deliveries.add(
                new_delivery(
                    subscription_id=subscription_id,
                    channel=channel,
                    target=target,
                    event_id=event.id,
                    event_type=event.type,
                    project_code=facts.project_code,
                    now=now,
                    delivered=False,
                )
            )
        uow.after_commit(announce.wake_worker)
    log_channel = announce.log_channel
    uow.after_commit(lambda: log_channel(event))


async def _contact_address(uow: NotifyUnitOfWork, event_type: str, facts: EventFacts) -> str | None:
    """The submission's contact address when this event is one it is e-mailed about."""
    if event_type not in CONTACT_EMAIL_TYPES:
        return None
    address = facts.contact_email
    if address is None and facts.project_code is not None:
        known = await uow.audience.get(facts.project_code)
        address = known.contact_email if known is not None else None
    if address is None or target_problem("email", address) is not None:
        return None
    return address


async def audience_of_event(uow: NotifyUnitOfWork, facts: EventFacts) -> Audience:
    """Who may see an event: what it says itself plus what the projection knows."""
    return await _audience(uow, facts)


async def _audience(uow: NotifyUnitOfWork, facts: EventFacts) -> Audience:
    known = None
    if facts.project_code is not None and needs_projection(facts):
        known = await uow.audience.get(facts.project_code)
    return audience_of(facts, known)


# --- delivery attempts ---------------------------------------------------------------------


async def claim_due_deliveries(
    uow: NotifyUnitOfWork, *, now: datetime, lease_until: datetime, limit: int
) -> list[Claimed]:
    """Hold up to `limit` due deliveries until `lease_until` (a sender that dies mid-send
    leaves them to be retried when the lease ends; two replicas never send one at once)."""
    claimed = await uow.deliveries.claim_due(now=now, lease_until=lease_until, limit=limit)
    await uow.commit()
    return claimed


async def record_attempts(
    uow: NotifyUnitOfWork,
    *,
    attempts: Sequence[tuple[Claimed, AttemptResult]],
    now: datetime,
    policy: RetryPolicy,
    max_attempts: int,
    platform_delta: Callable[[float], timedelta],
) -> list[str]:
    """Store each attempt's outcome; announce final ones (delivered, failed) on
    notify.deliveries. `platform_delta` turns a real-seconds backoff into platform time.
    Returns each delivery's status after its attempt, in order."""
    statuses: list[str] = []
    for claimed, result in attempts:
        delivery = claimed.delivery
        outcome = outcome_of_attempt(
            attempts_before=delivery.attempts,
            attempt_log=delivery.attempt_log,
            result=result,
            now=now,
            policy=policy,
            max_attempts=max_attempts,
            retried_from=delivery.retried_from,
        )
        due = None if outcome.retry_after_s is None else now + platform_delta(outcome.retry_after_s)
        await uow.deliveries.record(delivery, outcome, at=now, next_attempt_at=due)
        statuses.append(outcome.status)
        announcement = outcome.announcement
        if announcement is None or claimed.body is None:
            continue
        try:
            source_event = CloudEvent.from_json(claimed.body)
        except ValueError:
            log.warning("delivery %s: stored body is not a CloudEvent", delivery.delivery_id)
            continue
        data = DeliveryData(
            delivery_id=delivery.delivery_id,
            subscription_id=delivery.subscription_id,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            channel=delivery.channel,
            target=delivery.target,
            status="delivered" if outcome.status == "delivered" else "failed",
            attempts=outcome.attempts,
            error=outcome.error,
            at=now,
        )
        uow.emit(
            source_event.caused(
                type=announcement, source=NOTIFY_SOURCE, data=data, subject=delivery.project_code
            ),
            NOTIFY_DELIVERIES,
        )
    await uow.commit()
    return statuses
