"""HTTP routes (thin: parse, authorise, call a handler)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from notify_svc import handlers
from notify_svc.context import Context, CurrentViewer
from notify_svc.schemas import DeliveryOut, SubscriptionCreate, SubscriptionCreated, SubscriptionOut
from shared.auth import CurrentPrincipal
from shared.pagination import DEFAULT_LIMIT, Cursor, Cursors, Limit, Page
from shared.problems import not_found

router = APIRouter(prefix="/api/v1", tags=["notify"])

ShortText = Annotated[str | None, Query(max_length=128)]


@router.post(
    "/subscriptions",
    status_code=201,
    summary="Subscribe a webhook or e-mail address to events the caller may see",
)
async def create_subscription(
    body: SubscriptionCreate, principal: CurrentPrincipal, viewer: CurrentViewer, ctx: Context
) -> SubscriptionCreated:
    async with ctx.runtime.uow() as uow:
        return await handlers.create_subscription(
            uow=uow,
            directory=ctx.subscriptions,
            clock=ctx.runtime.clock,
            viewer=viewer,
            created_by=principal.sub,
            body=body,
        )


@router.get("/subscriptions", summary="The caller's subscriptions (ops: all)")
async def list_subscriptions(
    viewer: CurrentViewer,
    ctx: Context,
    cursors: Cursors,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[SubscriptionOut]:
    async with ctx.runtime.sessions() as session:
        return await handlers.list_subscriptions(
            session=session, viewer=viewer, limit=limit, cursor=cursor, cursors=cursors
        )


@router.get("/subscriptions/{sub_id}", summary="One subscription (its secret is never shown)")
async def get_subscription(
    sub_id: str, viewer: CurrentViewer, ctx: Context, cursors: Cursors
) -> SubscriptionOut:
    async with ctx.runtime.sessions() as session:
        page = await handlers.list_subscriptions(
            session=session, viewer=viewer, limit=1, cursor=None, cursors=cursors, only_id=sub_id
        )
    if not page.items:
        raise not_found(f"subscription {sub_id}")
    found: SubscriptionOut = page.items[0]
    return found


@router.delete("/subscriptions/{sub_id}", status_code=204, summary="Delete an own subscription")
async def delete_subscription(sub_id: str, viewer: CurrentViewer, ctx: Context) -> Response:
    async with ctx.runtime.uow() as uow:
        await handlers.delete_subscription(
            uow=uow,
            directory=ctx.subscriptions,
            clock=ctx.runtime.clock,
            viewer=viewer,
            sub_id=sub_id,
        )
    return Response(status_code=204)


@router.get("/deliveries", summary="Deliveries with their attempts, status and error")
async def list_deliveries(
    viewer: CurrentViewer,
    ctx: Context,
    cursors: Cursors,
    subscription_id: ShortText = None,
    event_type: ShortText = None,
    project_code: ShortText = None,
    status: Literal["pending", "delivered", "failed"] | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[DeliveryOut]:
    async with ctx.runtime.sessions() as session:
        return await handlers.list_deliveries(
            session=session,
            viewer=viewer,
            subscription_id=subscription_id,
            event_type=event_type,
            project_code=project_code,
            status=status,
            limit=limit,
            cursor=cursor,
            cursors=cursors,
        )
