"""Composition root of the supervision service."""

from __future__ import annotations

from fastapi import FastAPI

from shared.clock import Clock
from shared.events import CloudEvent
from shared.http import create_service_app
from shared.outbox import UnitOfWork
from shared.runtime import ServiceRuntime
from shared.settings import SupervisionSettings
from shared.topics import APPROVAL_PROJECTS
from supervision_svc.api import router
from supervision_svc.projection import APPROVAL_EVENT_TYPES, apply_approval_event
from supervision_svc.sweeps import run_sweeps

PROJECTION_CONSUMER = "approval-projection"


def create_app(settings: SupervisionSettings, *, clock: Clock | None = None) -> FastAPI:
    jwt_secret = settings.require_jwt_secret()
    runtime = ServiceRuntime(settings, clock=clock)

    async def on_approval_event(event: CloudEvent, uow: UnitOfWork) -> None:
        await apply_approval_event(event, uow=uow, clock=runtime.clock)

    runtime.consume(
        PROJECTION_CONSUMER,
        topics=[APPROVAL_PROJECTS],
        handlers=dict.fromkeys(APPROVAL_EVENT_TYPES, on_approval_event),
    )

    async def overdue_sweep() -> None:
        await run_sweeps(
            uow_factory=runtime.uow,
            clock=runtime.clock,
            interval_days=settings.sweep_interval_days,
        )

    runtime.background("approval-overdue-sweep", overdue_sweep)

    app: FastAPI = create_service_app(
        service=settings.service_name,
        title="supervision-svc",
        description="Supervision of investment projects: approval projection, alerts, stats.",
        readiness=runtime.readiness,
        lifespan=runtime.lifespan,
    )
    app.state.runtime = runtime
    app.state.jwt_secret = jwt_secret
    app.include_router(router)
    return app
