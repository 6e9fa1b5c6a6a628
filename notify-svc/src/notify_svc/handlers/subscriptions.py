"""Use cases of subscriptions and their deliveries: subscribe, delete, rotate the secret,
send a failed delivery again. Each commits its unit of work; refusals are domain errors."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from notify_svc.domain import (
    InvalidField,
    NotFound,
    Viewer,
    event_types_problem,
    may_manage,
    normalise_event_types,
    parse_ip,
    resolved_problem,
    retry_problem,
    target_problem,
    webhook_host,
)
from notify_svc.domain.addresses import IPAddress
from notify_svc.domain.errors import Conflict
from notify_svc.models import Delivery, Subscription
from notify_svc.unit_of_work import NotifyUnitOfWork

HostResolver = Callable[[str], Awaitable[Sequence[IPAddress]]]
"""The addresses a host name resolves to now (empty when it does not resolve)."""


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Subscribe a webhook or e-mail address to events (or '*') the caller may see."""

    channel: str
    target: str
    event_types: Sequence[str]


async def create_subscription(
    uow: NotifyUnitOfWork,
    *,
    command: Subscribe,
    viewer: Viewer,
    created_by: str,
    now: datetime,
    allow_private: bool = False,
    resolve: HostResolver | None = None,
) -> Subscription:
    """The new subscription, with the secret its webhooks are signed with (shown once).

    A webhook host that is, or resolves to, an internal address is refused (`target`); a
    name that does not resolve yet is accepted (every delivery checks it again anyway).
    """
    target = command.target.strip()
    if problem := target_problem(command.channel, target, allow_private=allow_private):
        raise InvalidField("target", problem)
    if problem := event_types_problem(command.event_types):
        raise InvalidField("event_types", problem)
    host = webhook_host(target) if command.channel == "webhook" else None
    if host is not None and parse_ip(host) is None and resolve is not None:
        addresses = await resolve(host)
        if addresses and (
            problem := resolved_problem(host, addresses, allow_private=allow_private)
        ):
            raise InvalidField("target", problem)
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


async def _managed(uow: NotifyUnitOfWork, viewer: Viewer, sub_id: str) -> Subscription:
    subscription = await uow.subscriptions.get(sub_id)
    if (
        subscription is None
        or subscription.deleted_at is not None
        or not may_manage(viewer, subscription.owner)
    ):
        raise NotFound(f"subscription {sub_id}")
    return subscription


async def delete_subscription(
    uow: NotifyUnitOfWork, *, viewer: Viewer, sub_id: str, now: datetime
) -> None:
    """The owner or ops deletes; pending deliveries then fail as 'subscription deleted'."""
    subscription = await _managed(uow, viewer, sub_id)
    subscription.deleted_at = now
    uow.subscriptions.add(subscription)
    await uow.commit()


async def rotate_secret(uow: NotifyUnitOfWork, *, viewer: Viewer, sub_id: str) -> Subscription:
    """A new signing secret (returned once); deliveries from now on are signed with it."""
    subscription = await _managed(uow, viewer, sub_id)
    subscription.secret = secrets.token_hex(32)
    uow.subscriptions.add(subscription)
    await uow.commit()
    return subscription


async def retry_delivery(
    uow: NotifyUnitOfWork,
    *,
    viewer: Viewer,
    delivery_id: str,
    now: datetime,
    wake_worker: Callable[[], None],
) -> Delivery:
    """Send a failed delivery again, with a fresh attempt budget (owner of its subscription
    or ops; anyone else: not found). Only a failed delivery can be retried (conflict)."""
    found = await uow.deliveries.get(delivery_id)
    if found is None:
        raise NotFound(f"delivery {delivery_id}")
    delivery, subscription = found
    owned = subscription is not None and may_manage(viewer, subscription.owner)
    if not (viewer.is_ops or owned):
        raise NotFound(f"delivery {delivery_id}")
    gone = subscription is not None and subscription.deleted_at is not None
    if problem := retry_problem(delivery.status, subscription_gone=gone):
        raise Conflict(problem)
    await uow.deliveries.retry(delivery, now=now)
    uow.after_commit(wake_worker)
    await uow.commit()
    delivery.status = "pending"
    delivery.next_attempt_at = now
    delivery.retried_from = delivery.attempts
    return delivery
