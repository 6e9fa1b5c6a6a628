"""Composition root of the notify service: `create_app(settings, ...)` wires everything."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from notify_svc import api, handlers, sse
from notify_svc.adapters.email import LogEmailSender, MailTransport, SmtpEmailSender
from notify_svc.adapters.log_channel import log_channel
from notify_svc.adapters.stream_feed import FetchPolicy, StreamFeed
from notify_svc.adapters.sweeper import RetentionSweeper
from notify_svc.adapters.webhook import (
    HttpClientFactory,
    Resolver,
    TargetGuard,
    resolve_host,
)
from notify_svc.adapters.worker import DeliveryWorker
from notify_svc.broadcast import Broadcaster, StreamTail
from notify_svc.caches import Caches
from notify_svc.consumers import INGESTED_TYPES, TOPICS, register_consumers
from notify_svc.context import NotifyContext
from notify_svc.domain import RetryPolicy
from notify_svc.settings import NotifySettings
from notify_svc.unit_of_work import NotifyUnitOfWork, SqlUnitOfWork
from shared.clock import Clock
from shared.http import create_service_app
from shared.runtime import ServiceRuntime

log = logging.getLogger(__name__)

DESCRIPTION = (
    "Tells people and systems what happened: webhook and e-mail subscriptions to the "
    "platform's events (within what the caller may see), e-mail to a submission's contact "
    "address, a record of every delivery and its attempts, and a resumable "
    "Server-Sent-Events stream."
)


def mail_transport(settings: NotifySettings) -> MailTransport:
    """SMTP when a host is set; otherwise e-mail is off (messages go to the log)."""
    if not settings.smtp_host:
        return LogEmailSender()
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    return SmtpEmailSender(
        host=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=password,
        starttls=settings.smtp_starttls,
        timeout_s=settings.smtp_timeout_s,
    )


def announce_settings(settings: NotifySettings) -> None:
    if settings.email_enabled:
        log.info(
            "e-mail is on: SMTP %s:%d (STARTTLS %s), from %s",
            settings.smtp_host,
            settings.smtp_port,
            "on" if settings.smtp_starttls else "off",
            settings.smtp_from,
        )
    else:
        log.warning(
            "e-mail is OFF: NOTIFY_SMTP_HOST is not set; e-mail deliveries are written to "
            "the log instead of being sent"
        )
    if settings.webhook_allow_private:
        log.warning(
            "NOTIFY_WEBHOOK_ALLOW_PRIVATE=true: webhooks may target loopback and private "
            "addresses (for local development only)"
        )


def create_app(
    settings: NotifySettings,
    *,
    clock: Clock | None = None,
    http_client_factory: HttpClientFactory | None = None,
    mail: MailTransport | None = None,
    resolver: Resolver | None = None,
    retry_policy: RetryPolicy | None = None,
    worker_poll_interval_s: float = 0.5,
    stream_ping_s: float = 15.0,
) -> FastAPI:
    runtime = ServiceRuntime(settings, clock=clock)
    caches = Caches()
    broadcaster = Broadcaster()
    resolve = resolver or resolve_host

    def uow() -> NotifyUnitOfWork:
        return SqlUnitOfWork(runtime.uow(), caches)

    def default_client() -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=settings.webhook_timeout_s, follow_redirects=False)

    worker = DeliveryWorker(
        uow_factory=uow,
        clock=runtime.clock,
        http_client_factory=http_client_factory or default_client,
        mail=mail or mail_transport(settings),
        mail_from=settings.smtp_from,
        guard=TargetGuard(allow_private=settings.webhook_allow_private, resolve=resolve),
        policy=retry_policy or RetryPolicy(),
        max_attempts=settings.webhook_max_attempts,
        lease_s=settings.webhook_timeout_s * 2 + settings.smtp_timeout_s + 5,
        poll_interval_s=worker_poll_interval_s,
    )
    register_consumers(
        runtime,
        caches=caches,
        announce=handlers.Announce(log_channel=log_channel, wake_worker=worker.wake),
    )
    runtime.background("delivery-worker", worker.run)
    tail = StreamTail(broadcaster, runtime.read_sessions)
    feed = StreamFeed(
        bootstrap=settings.bootstrap_servers,
        topics=TOPICS,
        streamed_types=INGESTED_TYPES,
        uow_factory=uow,
        sessions=runtime.read_sessions,
        on_stored=tail.wake,
        topic_ids=runtime.topic_ids,
        client_id=f"notify-stream-{uuid.uuid4().hex[:8]}",
        fetch=FetchPolicy(
            max_wait_ms=settings.kafka_fetch_max_wait_ms,
            min_bytes=settings.consumer_fetch_min_bytes,
            idle_wait_ms=settings.kafka_fetch_idle_wait_ms,
            idle_after_s=settings.kafka_fetch_idle_after_s,
        ),
    )
    runtime.background("stream-tail", tail.run)
    runtime.background("stream-history", feed.run)
    sweeper = RetentionSweeper(
        uow_factory=uow,
        clock=runtime.clock,
        stream_retention=timedelta(hours=settings.stream_retention_hours),
        body_retention=timedelta(hours=settings.delivery_retention_hours),
    )
    runtime.background("retention-sweep", sweeper.run)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        announce_settings(settings)
        async with runtime.lifespan(app):
            try:
                yield
            finally:
                broadcaster.close()  # end open streams before the runtime stops

    app: FastAPI = create_service_app(
        service=settings.service_name,
        settings=settings,
        title="notify-svc",
        description=DESCRIPTION,
        readiness=runtime.readiness,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.jwt_secret = settings.require_jwt_secret()
    app.state.notify = NotifyContext(
        runtime=runtime,
        uow=uow,
        broadcaster=broadcaster,
        wake_worker=worker.wake,
        resolve=resolve,
        allow_private_targets=settings.webhook_allow_private,
        stream_ping_s=stream_ping_s,
    )
    app.state.worker = worker
    app.state.stream_feed = feed
    app.state.stream_tail = tail
    app.state.sweeper = sweeper
    app.include_router(api.router)
    app.include_router(sse.router)
    return app
