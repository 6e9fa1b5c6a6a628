"""Composition root of the portal: `create_app(settings, ...)`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from portal_svc.clients import ApiProblem, Clients, Unavailable
from portal_svc.i18n import Catalogues
from portal_svc.metrics import UPSTREAM_FAILURES
from portal_svc.settings import PortalSettings
from portal_svc.views import auth, console, department, enterprise, public
from portal_svc.web import PageError, Portal, SignInRequired, redirect, render
from shared.clock import Clock, clock_from_settings
from shared.http import create_service_app
from shared.topics import DEPARTMENT_CODES

HERE = Path(__file__).parent


def build_templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["zip_self"] = lambda seq: [(x, x) for x in seq]
    return env


def create_app(
    settings: PortalSettings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """The portal; `transport` replaces the network in tests (httpx.MockTransport)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(
            transport=transport, timeout=settings.upstream_timeout_s, trust_env=False
        ) as http:
            app.state.portal = Portal(
                settings=settings,
                clients=Clients.build(
                    http,
                    approval=settings.approval_base,
                    supervision=settings.supervision_base,
                    notify=settings.notify_base,
                ),
                templates=build_templates(),
                catalogues=Catalogues.load(settings.default_locale),
                clock=clock or clock_from_settings(settings),
            )
            yield

    async def ready() -> list[str]:
        return []  # no database, no broker: pages degrade when a service is away

    app = create_service_app(
        service="portal",
        title="Investment project portal",
        description="Server-rendered pages for enterprises, departments, ops and the public.",
        readiness=ready,
        lifespan=lifespan,
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.cookie_secret(),
        session_cookie="portal_session",
        max_age=settings.session_max_age_s,
        same_site="lax",
        https_only=settings.cookie_secure,
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (auth, enterprise, department, console, public):
        app.include_router(module.router)
    install_error_pages(app)
    return app


def install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        return to_sign_in(request, exc.next_path, exc.form, expired=exc.expired)

    @app.exception_handler(PageError)
    async def _page(request: Request, exc: PageError) -> Response:
        return render(request, "error.html", status=exc.status, title=exc.title, detail=exc.detail)

    @app.exception_handler(ApiProblem)
    async def _problem(request: Request, exc: ApiProblem) -> Response:
        if exc.status == 401:  # the token was refused: sign in again, keep the form
            return to_sign_in(
                request, request.url.path, getattr(request.state, "form", None), expired=True
            )
        title = "Not found" if exc.status == 404 else exc.problem.title
        return render(
            request, "error.html", status=exc.status, title=title, detail=exc.problem.detail
        )

    @app.exception_handler(Unavailable)
    async def _unavailable(request: Request, exc: Unavailable) -> Response:
        UPSTREAM_FAILURES.labels(exc.service).inc()
        return render(
            request,
            "error.html",
            status=503,
            title="This service is not available right now",
            detail=f"{exc.service} did not answer. Try again in a few minutes.",
        )


def to_sign_in(
    request: Request, next_path: str, form: dict[str, str] | None, *, expired: bool
) -> Response:
    request.session.pop("user", None)
    if request.method == "GET" or not form:
        if expired:
            request.session["flash"] = {
                "message": "Your session has expired. Sign in again to continue.",
                "kind": "info",
                "params": {},
            }
        return redirect(f"/sign-in?next={next_path}")
    return render(
        request,
        "sign_in.html",
        status=401,
        next=next_path,
        departments=DEPARTMENT_CODES,
        stash=json.dumps(form, ensure_ascii=False),
        expired=True,
    )
