"""Use cases that change state: subscriptions, events into deliveries, delivery attempts.

Each takes a unit of work (`unit_of_work.NotifyUnitOfWork`) and plain values or a command,
keyword-only, and raises domain errors only (`domain.errors`). They commit their unit of work,
except `ingest_event`, which runs inside the consumer's batch transaction (the batch commits).
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from notify_svc.domain import (
    BUILTIN_LOG_SUBSCRIPTION,
    LOG_CHANNEL,
    AttemptResult,
    Audience,
    EventFacts,
    InvalidField,
    NotFound,
    RetryPolicy,
    Viewer,
    any_restricted,
    audience_of,
    event_types_problem,
    facts_of,
    may_manage,
    needs_projection,
    new_delivery,
    normalise_event_types,
    outcome_of_attempt,
    projection_update,
    recipients,
    target_problem,
)
from notify_svc.models import Subscription
from notify_svc.repository import Claimed
from notify_svc.unit_of_work import NotifyUnitOfWork
from shared.events import CloudEvent, DeliveryData
from shared.topics import NOTIFY_DELIVERIES

log = logging.getLogger(__name__)

SOURCE = "notify-svc"


# --- subscriptions -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Subscribe a webhook or e-mail address to events (or '*') the caller may see."""

    channel: str
    target: str
    event_types: Sequence[str]


async def create_subscription(
    uow: NotifyUnitOfWork, *, command: Subscribe, viewer: Viewer, created_by: str, now: datetime
) -> Subscription:
    """The new subscription, with the secret its webhooks are signed with (shown once)."""
    target = command.target.strip()
    if problem := target_problem(command.channel, target):
        raise InvalidField("target", problem)
    if problem := event_types_problem(command.event_types):
        raise InvalidField("event_types", problem)
    subscription = Subscription(
        id=str(uuid.uuid4()),
        owner=viewer.tenant,
        owner_role=viewer.role,
        owner_credit_code=viewer.credit_code,
        owner_department=viewer.department,
        created_by=created_by,
        channel=command.channel,
        target=target,
        event_types=normalise_event_types(command.event_types),
        secret=secrets.token_hex(32),
        created_at=now,
    )
    uow.subscriptions.add(subscription)
    await uow.commit()
    return subscription


async def delete_subscription(
    uow: NotifyUnitOfWork, *, viewer: Viewer, sub_id: str, now: datetime
) -> None:
    """Only the owning tenant deletes; pending deliveries then fail as 'subscription deleted'."""
    subscription = await uow.subscriptions.get(sub_id)
    if (
        subscription is None
        or subscription.deleted_at is not None
        or not may_manage(viewer, subscription.owner)
    ):
        raise NotFound(f"subscription {sub_id}")
    subscription.deleted_at = now
    uow.subscriptions.add(subscription)
    await uow.commit()


# --- events into deliveries ----------------------------------------------------------------


class LiveFeed(Protocol):
    """Where committed events go live (the Server-Sent-Events hub)."""

    @property
    def active(self) -> bool:
        """Someone is listening."""
        ...

    @property
    def restricted(self) -> bool:
        """Some listener is not ops: events need their audience resolved."""
        ...

    def publish(self, event: CloudEvent, audience: Audience | None) -> None: ...


@dataclass(frozen=True, slots=True)
class Announce:
    """What happens once an ingested event is committed (never before, never if it is not)."""

    live: LiveFeed
    log_channel: Callable[[CloudEvent], None]
    wake_worker: Callable[[], None]


async def ingest_event(
    uow: NotifyUnitOfWork, *, event: CloudEvent, now: datetime, announce: Announce
) -> None:
    """One consumed event: feed the audience projection, record the log channel's delivery
    and a pending delivery for each subscription that wants the event and may see it; after
    the commit, write the log line, put the event live and wake the delivery worker.
    """
    facts = facts_of(event.type, event.subject, event.data)
    candidates = await uow.subscriptions.matching(event.type)
    audience: Audience | None = None
    if any_restricted(candidates) or announce.live.restricted:
        audience = await _audience(uow, facts)
    matched = recipients(candidates, audience)

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
        for sub in matched:
            uow.deliveries.add(
                new_delivery(
                    subscription_id=sub.id,
                    channel=sub.channel,
                    target=sub.target,
                    event_id=event.id,
                    event_type=event.type,
                    project_code=facts.project_code,
                    now=now,
                    delivered=False,
                )
            )
        uow.after_commit(announce.wake_worker)
    live = announce.live

    def go_live() -> None:
        announce.log_channel(event)
        if live.active:
            live.publish(event, audience)

    uow.after_commit(go_live)


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
) -> None:
    """Store each attempt's outcome; announce final ones (delivered, failed) on
    notify.deliveries. `platform_delta` turns a real-seconds backoff into platform time."""
    for claimed, result in attempts:
        delivery = claimed.delivery
        outcome = outcome_of_attempt(
            attempts_before=delivery.attempts,
            attempt_log=delivery.attempt_log,
            result=result,
            now=now,
            policy=policy,
            max_attempts=max_attempts,
        )
        due = None if outcome.retry_after_s is None else now + platform_delta(outcome.retry_after_s)
        await uow.deliveries.record(delivery, outcome, at=now, next_attempt_at=due)
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
                type=announcement, source=SOURCE, data=data, subject=delivery.project_code
            ),
            NOTIFY_DELIVERIES,
        )
    await uow.commit()
