"""What the routes need from the composition root, reachable from a request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import Depends, Request

from notify_svc.broadcast import Broadcaster
from notify_svc.directory import SubscriptionDirectory
from notify_svc.domain import Viewer
from shared.auth import CurrentPrincipal
from shared.runtime import ServiceRuntime


@dataclass(frozen=True, slots=True)
class NotifyContext:
    runtime: ServiceRuntime
    subscriptions: SubscriptionDirectory
    broadcaster: Broadcaster
    stream_ping_s: float = 15.0


def get_context(request: Request) -> NotifyContext:
    return cast(NotifyContext, request.app.state.notify)


def get_viewer(principal: CurrentPrincipal) -> Viewer:
    return Viewer(
        role=cast(Any, principal.role.value),
        credit_code=principal.credit_code,
        department=principal.department,
    )


Context = Annotated[NotifyContext, Depends(get_context)]
CurrentViewer = Annotated[Viewer, Depends(get_viewer)]
