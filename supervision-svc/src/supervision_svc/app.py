"""Composition root of the supervision service: what runs, wired together."""

from __future__ import annotations

from datetime import datetime

from fastapi import FastAPI

from shared.clock import Clock
from shared.http import create_service_app
from shared.runtime import ServiceRuntime
from supervision_svc import handlers
from supervision_svc.api import router
from supervision_svc.api_credit import router as credit_router
from supervision_svc.api_reports import router as reports_router
from supervision_svc.consumers import register_consumers
from supervision_svc.queries import refresh_gauges
from supervision_svc.rules_file import load_thresholds
from supervision_svc.scheduler import Wakeup, run_on_timers
from supervision_svc.settings import SupervisionSettings
from supervision_svc.unit_of_work import SqlUnitOfWork

TIME_RULES = "time_rules"


def create_app(settings: SupervisionSettings, *, clock: Clock | None = None) -> FastAPI:
    jwt_secret = settings.require_jwt_secret()
    rules = load_thresholds(settings.rules_file)  # a bad file stops the start here
    runtime = ServiceRuntime(settings, clock=clock)
    wakeup = Wakeup()
    register_consumers(runtime, rules=rules, wakeup=wakeup)

    def uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(runtime.uow())

    async def time_rules(now: datetime) -> datetime | None:
        next_due = await handlers.run_due_rules(uow_factory=uow, now=now, rules=rules)
        async with runtime.read_sessions() as session:
            await refresh_gauges(session)
        return next_due

    async def timers() -> None:
        await run_on_timers(
            TIME_RULES,
            time_rules,
            clock=runtime.clock,
            wakeup=wakeup,
            floor_s=settings.timer_floor_s,
            ceiling_s=settings.timer_ceiling_s,
        )

    runtime.background("time-rules", timers)

    app: FastAPI = create_service_app(
        service=settings.service_name,
        settings=settings,
        title="supervision-svc",
        description="Supervision of investment projects: reports, rules, alerts, credit, stats.",
        readiness=runtime.readiness,
        lifespan=runtime.lifespan,
    )
    app.state.runtime = runtime
    app.state.jwt_secret = jwt_secret
    app.state.rules = rules
    app.state.wakeup = wakeup
    app.include_router(router)
    app.include_router(reports_router)
    app.include_router(credit_router)
    return app
