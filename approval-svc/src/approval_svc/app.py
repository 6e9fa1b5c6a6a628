"""Composition root of the approval service."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI

from approval_svc import api, queries
from approval_svc.catalogue_file import load_catalogue
from approval_svc.consumers import credit_handlers, decision_handlers
from approval_svc.domain.catalogue import Catalogue
from approval_svc.handlers import deem_silent_consultations
from approval_svc.metrics import CALENDAR_FALLBACK, PROJECTS_IN_FLIGHT
from approval_svc.settings import ApprovalSettings
from approval_svc.unit_of_work import SqlUnitOfWork
from shared.clock import Clock
from shared.http import create_service_app
from shared.runtime import ServiceRuntime
from shared.topics import APPROVAL_DECISIONS, SUPERVISION_ALERTS

SECONDS_PER_DAY = 86_400


def create_app(
    settings: ApprovalSettings,
    *,
    clock: Clock | None = None,
    catalogue: Catalogue | None = None,
    consume: bool = True,
) -> FastAPI:
    runtime = ServiceRuntime(settings, clock=clock, consume=consume)
    # The one catalogue of this process: routing and GET /api/v1/departments both read it.
    catalogue = catalogue or load_catalogue(settings.catalogue_path)
    calendar = catalogue.work_calendar(
        on_unknown_year=lambda year: CALENDAR_FALLBACK.labels("approval", str(year)).inc()
    )

    jwt_secret = settings.require_jwt_secret()
    runtime.consume(
        "decisions",
        topics=[APPROVAL_DECISIONS],
        handlers=decision_handlers(clock=runtime.clock, jwt_secret=jwt_secret),
    )
    # Joint punishment: supervision's credit statuses, through the topic only.
    runtime.consume(
        "credit", topics=[SUPERVISION_ALERTS], handlers=credit_handlers(clock=runtime.clock)
    )

    async def consultation_sweep() -> None:
        # Silence of consulted departments becomes consent: a sweep that really runs, every
        # `sweep_interval_days` of platform time but never more often than the real-time floor
        # (0.01 day is 20 ms at PLATFORM_DAY_SECONDS=2: an idle service would spin).
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            async with runtime.uow() as outbox:
                await deem_silent_consultations(uow=SqlUnitOfWork(outbox), clock=runtime.clock)
            await runtime.clock.sleep(settings.sweep_interval_days * SECONDS_PER_DAY)
            rest = settings.sweep_floor_s - (loop.time() - started)
            if rest > 0:
                await asyncio.sleep(rest)

    runtime.background("consultation-sweep", consultation_sweep)

    async def count_in_flight() -> None:
        # A periodic count (an indexed GROUP BY on the read engine) rather than increments
        # on every transition: right after a restart and the same on every replica.
        while True:
            async with runtime.read_sessions() as session:
                counts = await queries.projects_in_flight(session)
            for status, count in counts.items():
                PROJECTS_IN_FLIGHT.labels(status).set(count)
            await asyncio.sleep(settings.in_flight_interval_s)

    runtime.background("projects-in-flight", count_in_flight)

    app = _http_app(runtime, runtime.lifespan)
    app.state.jwt_secret = jwt_secret
    app.state.runtime = runtime
    app.state.deps = api.Deps(runtime=runtime, catalogue=catalogue, calendar=calendar)
    api.install(app)
    return app


def _http_app(runtime: ServiceRuntime, lifespan: Any) -> FastAPI:
    return create_service_app(
        service="approval",
        settings=runtime.settings,
        title="Approval service",
        description=(
            "Enterprises submit investment projects; every department a project needs reviews "
            "it in parallel; decisions, supplements and disclosure of results."
        ),
        readiness=runtime.readiness,
        lifespan=lifespan,
    )
