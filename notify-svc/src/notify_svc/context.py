"""What the routes need from the composition root, reachable from a request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, Request

from notify_svc.broadcast import Broadcaster
from notify_svc.domain import Viewer, viewer_of_owner
from notify_svc.handlers import HostResolver
from notify_svc.unit_of_work import NotifyUnitOfWork
from shared.auth import CurrentPrincipal
from shared.runtime import ServiceRuntime


@dataclass(frozen=True, slots=True)
class NotifyContext:
    runtime: ServiceRuntime
    uow: Callable[[], NotifyUnitOfWork]
    broadcaster: Broadcaster
    wake_worker: Callable[[], None]
    resolve: HostResolver | None = None
    allow_private_targets: bool = False
    stream_ping_s: float = 15.0


# async although it awaits nothing: FastAPI runs a plain function dependency in a worker
# thread, a thread hop on every request.
async def get_context(request: Request) -> NotifyContext:
    return cast(NotifyContext, request.app.state.notify)


async def get_viewer(principal: CurrentPrincipal) -> Viewer:
    return viewer_of_owner(principal.role.value, principal.credit_code, principal.department)


Context = Annotated[NotifyContext, Depends(get_context)]
CurrentViewer = Annotated[Viewer, Depends(get_viewer)]
