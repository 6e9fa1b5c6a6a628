"""Reads: subscriptions and the delivery record, scoped to what the caller may see."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from notify_svc.domain import NotFound, Viewer, may_read
from notify_svc.models import Delivery, Subscription
from notify_svc.schemas import DeliveryOut, SubscriptionOut
from shared.pagination import CursorCodec, Page, stored


async def list_subscriptions(
    session: AsyncSession, *, viewer: Viewer, limit: int, cursor: str | None, cursors: CursorCodec
) -> Page[SubscriptionOut]:
    """Ops sees every subscription (read-only); anyone else those of its own tenant."""
    query = select(Subscription).where(col(Subscription.deleted_at).is_(None))
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


async def get_subscription(
    session: AsyncSession, *, viewer: Viewer, sub_id: str
) -> SubscriptionOut:
    row = await session.get(Subscription, sub_id)
    if row is None or row.deleted_at is not None or not may_read(viewer, row.owner):
        raise NotFound(f"subscription {sub_id}")
    return SubscriptionOut.of(row)


async def list_deliveries(
    session: AsyncSession,
    *,
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
            if owned is None or not may_read(viewer, owned.owner):
                raise NotFound(f"subscription {subscription_id}")
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
