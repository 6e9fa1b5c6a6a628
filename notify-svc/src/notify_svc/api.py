"""HTTP routes of subscriptions and deliveries (thin: scope by the caller, parse, call a
handler or query, map domain errors to problem+json). The live stream is in `notify_svc.sse`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from notify_svc import handlers, queries
from notify_svc.context import Context, CurrentViewer
from notify_svc.domain import InvalidField, NotFound
from notify_svc.domain.errors import Conflict
from notify_svc.schemas import DeliveryOut, SubscriptionCreate, SubscriptionCreated, SubscriptionOut
from shared.auth import CurrentPrincipal
from shared.pagination import DEFAULT_LIMIT, Cursor, Cursors, Limit, Page
from shared.problems import conflict, field_error, not_found

router = APIRouter(prefix="/api/v1", tags=["notify"])

ShortText = Annotated[str | None, Query(max_length=128)]


@contextlib.contextmanager
def domain_errors(location: Literal["body", "query"]) -> Iterator[None]:
    """Domain errors as problem+json: not found → 404, a refused field → 422 naming it, a
    state that does not allow it → 409."""
    try:
        yield
    except NotFound as exc:
        raise not_found(exc.what) from exc
    except Conflict as exc:
        raise conflict(exc.problem) from exc
    except InvalidField as exc:
        raise field_error([location, exc.field], exc.problem) from exc


@router.post(
    "/subscriptions",
    status_code=201,
    summary="Subscribe a webhook or e-mail address to events the caller may see",
)
async def create_subscription(
    body: SubscriptionCreate, principal: CurrentPrincipal, viewer: CurrentViewer, ctx: Context
) -> SubscriptionCreated:
    command = handlers.Subscribe(
        channel=body.channel, target=body.target, event_types=body.event_types
    )
    with domain_errors("body"):
        async with ctx.uow() as uow:
            created = await handlers.create_subscription(
                uow,
                command=command,
                viewer=viewer,
                created_by=principal.sub,
                now=ctx.runtime.clock.now(),
                allow_private=ctx.allow_private_targets,
                resolve=ctx.resolve,
            )
    assert created.secret is not None  # a new subscription always has one
    return SubscriptionCreated(**SubscriptionOut.of(created).model_dump(), secret=created.secret)


@router.get("/subscriptions", summary="The caller's subscriptions (ops: all)")
async def list_subscriptions(
    viewer: CurrentViewer,
    ctx: Context,
    cursors: Cursors,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[SubscriptionOut]:
    with domain_errors("query"):
        async with ctx.runtime.sessions() as session:
            return await queries.list_subscriptions(
                session, viewer=viewer, limit=limit, cursor=cursor, cursors=cursors
            )


@router.get("/subscriptions/{sub_id}", summary="One subscription (its secret is never shown)")
async def get_subscription(sub_id: str, viewer: CurrentViewer, ctx: Context) -> SubscriptionOut:
    with domain_errors("query"):
        async with ctx.runtime.sessions() as session:
            return await queries.get_subscription(session, viewer=viewer, sub_id=sub_id)


@router.delete("/subscriptions/{sub_id}", status_code=204, summary="Delete an own subscription")
async def delete_subscription(sub_id: str, viewer: CurrentViewer, ctx: Context) -> Response:
    with domain_errors("query"):
        async with ctx.uow() as uow:
            await handlers.delete_subscription(
                uow, viewer=viewer, sub_id=sub_id, now=ctx.runtime.clock.now()
            )
    return Response(status_code=204)


@router.post(
    "/subscriptions/{sub_id}/rotate-secret",
    summary="A new signing secret for an own subscription (shown once, in this response)",
)
async def rotate_secret(sub_id: str, viewer: CurrentViewer, ctx: Context) -> SubscriptionCreated:
    with domain_errors("query"):
        async with ctx.uow() as uow:
            rotated = await handlers.rotate_secret(uow, viewer=viewer, sub_id=sub_id)
    assert rotated.secret is not None  # rotating always sets one
    return SubscriptionCreated(**SubscriptionOut.of(rotated).model_dump(), secret=rotated.secret)


@router.post(
    "/deliveries/{delivery_id}/retry",
    status_code=202,
    summary="Send a failed delivery again (owner of its subscription or ops)",
)
async def retry_delivery(delivery_id: str, viewer: CurrentViewer, ctx: Context) -> DeliveryOut:
    with domain_errors("query"):
        async with ctx.uow() as uow:
            delivery = await handlers.retry_delivery(
                uow,
                viewer=viewer,
                delivery_id=delivery_id,
                now=ctx.runtime.clock.now(),
                wake_worker=ctx.wake_worker,
            )
    return DeliveryOut.of(delivery)


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
    with domain_errors("query"):
        async with ctx.runtime.sessions() as session:
            return await queries.list_deliveries(
                session,
                viewer=viewer,
                subscription_id=subscription_id,
                event_type=event_type,
                project_code=project_code,
                status=status,
                limit=limit,
                cursor=cursor,
                cursors=cursors,
            )
