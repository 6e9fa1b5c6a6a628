"""Composition root of the approval service."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

from fastapi import FastAPI

from approval_svc import api, queries
from approval_svc.catalogue_file import load_catalogue
from approval_svc.consumers import credit_handlers, decision_handlers, preload_decided_projects
from approval_svc.domain.catalogue import Catalogue
from approval_svc.handlers import deem_silent_consultations
from approval_svc.metrics import CALENDAR_FALLBACK, PROJECTS_IN_FLIGHT
from approval_svc.settings import ApprovalSettings
from approval_svc.submissions import SubmissionGroups
from approval_svc.unit_of_work import SqlUnitOfWork
from shared.clock import Clock
from shared.http import create_service_app
from shared.runtime import ServiceRuntime
from shared.topics import APPROVAL_DECISIONS, SUPERVISION_ALERTS

SWEEP_BATCH = 200
"""Consultations deemed per sweep transaction."""
TIMER_SLACK_S = 0.005
"""Added to a computed wait: a timer that fires a little early must not mean an extra look."""


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
        prepare=preload_decided_projects,
    )
    # Joint punishment: supervision's credit statuses, through the topic only.
    runtime.consume(
        "credit", topics=[SUPERVISION_ALERTS], handlers=credit_handlers(clock=runtime.clock)
    )

    # Silence of consulted departments becomes consent. The sweep runs when the earliest reply
    # limit falls due (read from the stored tasks) and sleeps until then, whatever
    # PLATFORM_DAY_SECONDS is; a commit of this process (a consultation assigned or resumed)
    # makes it look again, and it sweeps at least every `sweep_ceiling_s` (consultations
    # another instance recorded); never more often than every `sweep_floor_s`.
    changed = asyncio.Event()
    runtime.on_commit(changed.set)

    async def consultation_sweep() -> None:
        loop = asyncio.get_running_loop()
        last = float("-inf")
        while True:
            rest = settings.sweep_floor_s - (loop.time() - last)
            if rest > 0:
                await asyncio.sleep(rest)
            last = loop.time()
            swept = runtime.clock.now()
            async with runtime.uow() as outbox:
                deemed = await deem_silent_consultations(
                    uow=SqlUnitOfWork(outbox), clock=runtime.clock, limit=SWEEP_BATCH
                )
            if deemed < SWEEP_BATCH:  # a full batch: more may be due at once
                await until_consultation_due(
                    after=swept, ceiling_at=last + settings.sweep_ceiling_s
                )

    async def until_consultation_due(*, after: datetime, ceiling_at: float) -> None:
        """Return when a reply limit later than `after` (the last sweep) is reached, or at
        `ceiling_at` (loop time); recomputed after each commit of this process."""
        loop = asyncio.get_running_loop()
        while True:
            looked = loop.time()
            changed.clear()  # from here on a commit means: look again (this read sees it)
            async with runtime.read_sessions() as session:
                due = await queries.next_consultation_due(session, after=after)
            wait = ceiling_at - looked
            if due is not None:
                platform_s = (due - runtime.clock.now()).total_seconds()
                if platform_s <= 0:
                    return
                real_s = runtime.clock.real_seconds(platform_s)
                # A manual clock moves without real time passing: look again after the floor.
                wait = min(wait, real_s + TIMER_SLACK_S if real_s > 0 else settings.sweep_floor_s)
            if wait <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=wait)
                # Woken by a commit: look again, at most once per floor.
                rest = settings.sweep_floor_s - (loop.time() - looked)
                if rest > 0:
                    await asyncio.sleep(rest)
            if loop.time() >= ceiling_at:
                return

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
    submissions = SubmissionGroups(
        uow=runtime.uow,
        catalogue=catalogue,
        calendar=calendar,
        clock=runtime.clock,
        max_group=settings.submit_group_max,
    )
    runtime.background("submission-groups", submissions.run)
    app.state.deps = api.Deps(
        runtime=runtime, catalogue=catalogue, calendar=calendar, submissions=submissions
    )
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
