"""Composition root of the supervision service: what runs, wired together."""

from __future__ import annotations

from datetime import datetime

from fastapi import FastAPI

from shared.clock import Clock
from shared.http import create_service_app
from shared.runtime import ServiceRuntime
from supervision_svc import handlers
from supervision_svc.api import router
from supervision_svc.consumers import register_consumers
from supervision_svc.domain.alerts import APPROVAL_OVERDUE
from supervision_svc.scheduler import run_periodically
from supervision_svc.settings import SupervisionSettings
from supervision_svc.unit_of_work import SqlUnitOfWork


def create_app(settings: SupervisionSettings, *, clock: Clock | None = None) -> FastAPI:
    jwt_secret = settings.require_jwt_secret()
    runtime = ServiceRuntime(settings, clock=clock)
    register_consumers(runtime)

    def uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(runtime.uow())

    async def approval_overdue(now: datetime) -> None:
        await handlers.sweep_approval_overdue(uow_factory=uow, now=now)

    async def overdue_sweeps() -> None:
        await run_periodically(
            APPROVAL_OVERDUE,
            approval_overdue,
            clock=runtime.clock,
            interval_days=settings.sweep_interval_days,
        )

    runtime.background("approval-overdue-sweep", overdue_sweeps)

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
