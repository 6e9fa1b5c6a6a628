"""Composition root of the notify service: `create_app(settings, ...)` wires everything."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI

from notify_svc import api, handlers, sse
from notify_svc.adapters.email import EmailSender, LogEmailSender
from notify_svc.adapters.log_channel import log_channel
from notify_svc.adapters.webhook import HttpClientFactory
from notify_svc.adapters.worker import DeliveryWorker
from notify_svc.broadcast import Broadcaster
from notify_svc.caches import Caches
from notify_svc.consumers import register_consumers
from notify_svc.context import NotifyContext
from notify_svc.domain import RetryPolicy
from notify_svc.settings import NotifySettings
from notify_svc.unit_of_work import NotifyUnitOfWork, SqlUnitOfWork
from shared.clock import Clock
from shared.http import create_service_app
from shared.runtime import ServiceRuntime

DESCRIPTION = (
    "Tells people and systems what happened: webhook and e-mail subscriptions to the "
    "platform's events (within what the caller may see), a record of every delivery and its "
    "attempts, and a live Server-Sent-Events stream."
)


def create_app(
    settings: NotifySettings,
    *,
    clock: Clock | None = None,
    http_client_factory: HttpClientFactory | None = None,
    email_sender: EmailSender | None = None,
    retry_policy: RetryPolicy | None = None,
    worker_poll_interval_s: float = 0.5,
    stream_ping_s: float = 15.0,
) -> FastAPI:
    runtime = ServiceRuntime(settings, clock=clock)
    caches = Caches()
    broadcaster = Broadcaster()

    def uow() -> NotifyUnitOfWork:
        return SqlUnitOfWork(runtime.uow(), caches)

    def default_client() -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=settings.webhook_timeout_s, follow_redirects=False)

    worker = DeliveryWorker(
        uow_factory=uow,
        clock=runtime.clock,
        http_client_factory=http_client_factory or default_client,
        email_sender=email_sender or LogEmailSender(),
        policy=retry_policy or RetryPolicy(),
        max_attempts=settings.webhook_max_attempts,
        lease_s=settings.webhook_timeout_s * 2 + 5,
        poll_interval_s=worker_poll_interval_s,
    )
    register_consumers(
        runtime,
        caches=caches,
        announce=handlers.Announce(
            live=broadcaster, log_channel=log_channel, wake_worker=worker.wake
        ),
    )
    runtime.background("delivery-worker", worker.run)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with runtime.lifespan(app):
            try:
                yield
            finally:
                broadcaster.close()  # end open streams before the runtime stops

    app: FastAPI = create_service_app(
        service=settings.service_name,
        title="notify-svc",
        description=DESCRIPTION,
        readiness=runtime.readiness,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.jwt_secret = settings.require_jwt_secret()
    app.state.notify = NotifyContext(
        runtime=runtime, uow=uow, broadcaster=broadcaster, stream_ping_s=stream_ping_s
    )
    app.state.worker = worker
    app.include_router(api.router)
    app.include_router(sse.router)
    return app
