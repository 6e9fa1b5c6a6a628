"""Use cases of the HTTP API: subscriptions and the delivery record."""

from __future__ import annotations

import secrets
import uuid

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from notify_svc.directory import SubscriptionDirectory
from notify_svc.domain import (
    Viewer,
    event_types_problem,
    normalise_event_types,
    target_problem,
)
from notify_svc.models import Delivery, Subscription
from notify_svc.schemas import DeliveryOut, SubscriptionCreate, SubscriptionCreated, SubscriptionOut
from shared.clock import Clock
from shared.outbox import UnitOfWork
from shared.pagination import CursorCodec, Page, stored
from shared.problems import field_error, not_found


async def create_subscription(
    *,
    uow: UnitOfWork,
    directory: SubscriptionDirectory,
    clock: Clock,
    viewer: Viewer,
    created_by: str,
    body: SubscriptionCreate,
) -> SubscriptionCreated:
    target = body.target.strip()
    if problem := target_problem(body.channel, target):
        raise field_error(["body", "target"], problem)
    if problem := event_types_problem(body.event_types):
        raise field_error(["body", "event_types"], problem)
    row = Subscription(
        id=str(uuid.uuid4()),
        owner=viewer.tenant,
        owner_role=viewer.role,
        owner_credit_code=viewer.credit_code,
        owner_department=viewer.department,
        created_by=created_by,
        channel=body.channel,
        target=target,
        event_types=normalise_event_types(body.event_types),
        secret=secrets.token_hex(32),
        created_at=clock.now(),
    )
    uow.session.add(row)
    await uow.commit()
    directory.invalidate()
    assert row.secret is not None
    return SubscriptionCreated(**SubscriptionOut.of(row).model_dump(), secret=row.secret)


async def list_subscriptions(
    *,
    session: AsyncSession,
    viewer: Viewer,
    limit: int,
    cursor: str | None,
    cursors: CursorCodec,
    only_id: str | None = None,
) -> Page[SubscriptionOut]:
    """Ops sees every subscription (read-only); anyone else those of its own tenant."""
    query = select(Subscription).where(col(Subscription.deleted_at).is_(None))
    if only_id is not None:
        query = query.where(col(Subscription.id) == only_id)
    if not viewer.is_ops:
        query = query.where(col(Subscription.owner) == viewer.tenant)
    position = cursors.decode(cursor, (str,))
    if position is not None:
        query = query.where(col(Subscription.id) > position[0])
    page, next_cursor = cursors.split_page(
        (await session.exec(query.order_by(col(Subscription.id)).limit(limit + 1))).all(),
        limit,
        lambda row: (row.id,),
    )
    return Page[SubscriptionOut](
        items=[SubscriptionOut.of(r) for r in page], next_cursor=next_cursor
    )


async def delete_subscription(
    *, uow: UnitOfWork, directory: SubscriptionDirectory, clock: Clock, viewer: Viewer, sub_id: str
) -> None:
    """Only the owning tenant deletes; pending deliveries then fail as 'subscription deleted'."""
    row = await uow.session.get(Subscription, sub_id)
    if row is None or row.deleted_at is not None or row.owner != viewer.tenant:
        raise not_found(f"subscription {sub_id}")
    row.deleted_at = clock.now()
    uow.session.add(row)
    await uow.commit()
    directory.invalidate()


async def list_deliveries(
    *,
    session: AsyncSession,
    viewer: Viewer,
    subscription_id: str | None,
    event_type: str | None,
    project_code: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
    cursors: CursorCodec,
) -> Page[DeliveryOut]:
    """Newest first. Ops sees every delivery; anyone else those of its own subscriptions."""
    query = select(Delivery)
    if subscription_id is not None:
        if not viewer.is_ops:
            owned = await session.get(Subscription, subscription_id)
            if owned is None or owned.owner != viewer.tenant:
                raise not_found(f"subscription {subscription_id}")
        query = query.where(col(Delivery.subscription_id) == subscription_id)
    elif not viewer.is_ops:
        own = select(Subscription.id).where(col(Subscription.owner) == viewer.tenant)
        query = query.where(col(Delivery.subscription_id).in_(own))
    if event_type is not None:
        query = query.where(col(Delivery.event_type) == event_type)
    if project_code is not None:
        query = query.where(col(Delivery.project_code) == project_code)
    if status is not None:
        query = query.where(col(Delivery.status) == status)
    position = cursors.decode(cursor, (int,))
    if position is not None:
        query = query.where(col(Delivery.seq) < position[0])
    page, next_cursor = cursors.split_page(
        (await session.exec(query.order_by(col(Delivery.seq).desc()).limit(limit + 1))).all(),
        limit,
        lambda row: (stored(row.seq),),
    )
    return Page[DeliveryOut](items=[DeliveryOut.of(r) for r in page], next_cursor=next_cursor)
