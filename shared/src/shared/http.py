"""What every service's HTTP app has: problem errors, RED metrics, correlation ids, health,
authentication before validation, bounded and checked input, and a truthful OpenAPI document.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.asyncapi import document_json
from shared.auth import TokenPolicy
from shared.guards import AuthFirstMiddleware, InputGuardMiddleware, InputLimits
from shared.jsonguard import JsonLimits
from shared.logs import correlation_id
from shared.metrics import HTTP_DURATION, HTTP_REQUESTS
from shared.openapi import document_problems, problem_response_doc
from shared.problems import ProblemError, install_problem_handlers, problem_response
from shared.settings import PlatformSettings, get_platform_settings

CORRELATION_HEADER = "x-correlation-id"
MAX_CORRELATION_ID = 128
log = logging.getLogger(__name__)
Readiness = Callable[[], Awaitable[list[str]]]


class ObservabilityMiddleware:
    """Pure ASGI (cheaper than BaseHTTPMiddleware on the hot path): metrics + correlation id."""

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next(
            (v for k, v in scope.get("headers", []) if k == CORRELATION_HEADER.encode()), None
        )
        cid = sane_correlation_id(incoming) or str(uuid.uuid4())
        token = correlation_id.set(cid)
        status = 500
        response_started = False
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (CORRELATION_HEADER.encode(), cid.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            # Answer here, while the correlation id is still set, so the 500 and its logged
            # stack trace both carry it (Starlette's outer handler runs outside this scope).
            log.exception("unhandled error")
            if response_started:
                raise
            problem = ProblemError(
                status=500, title="Internal Server Error", detail="unexpected error"
            )
            await problem_response(problem)(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "GET")
            HTTP_REQUESTS.labels(self.service, method, template, str(status)).inc()
            HTTP_DURATION.labels(self.service, method, template).observe(
                time.perf_counter() - started
            )
            correlation_id.reset(token)


def sane_correlation_id(raw: bytes | None) -> str | None:
    """A caller's correlation id if it is sane (1-128 visible ASCII characters), else None.

    Anything else (other bytes, spaces, control characters) is replaced by a fresh id rather
    than refused: the id is a tracing aid, never a reason to fail a request.
    """
    if not raw or len(raw) > MAX_CORRELATION_ID:
        return None
    if not all(0x21 <= b <= 0x7E for b in raw):
        return None
    return raw.decode("ascii")


def input_limits(settings: PlatformSettings) -> InputLimits:
    return InputLimits(
        max_body_bytes=settings.max_body_bytes,
        read_timeout_s=settings.http_read_timeout_s,
        json=JsonLimits(max_items=settings.max_json_items),
    )


def create_service_app(
    *,
    service: str,
    title: str,
    description: str,
    readiness: Readiness,
    lifespan: Any = None,
    version: str = "1.0.0",
    settings: PlatformSettings | None = None,
) -> FastAPI:
    """The app every service builds on; `settings` defaults to the platform's from the env."""
    settings = settings or get_platform_settings()
    app = FastAPI(title=title, description=description, version=version, lifespan=lifespan)
    app.state.token_policy = TokenPolicy(
        max_ttl_s=settings.jwt_max_ttl_s, leeway_s=settings.jwt_leeway_s
    )
    install_problem_handlers(app)
    # Added innermost first: correlation id and metrics see everything, then the caller is
    # authenticated, then the input is read and checked, then the route validates it.
    app.add_middleware(InputGuardMiddleware, limits=input_limits(settings))
    app.add_middleware(AuthFirstMiddleware)
    app.add_middleware(ObservabilityMiddleware, service=service)
    document_problems(app)

    @app.get("/healthz", tags=["ops"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get(
        "/readyz",
        tags=["ops"],
        summary="Database and broker are reachable",
        responses={503: problem_response_doc(503)},
    )
    async def readyz() -> JSONResponse:
        problems = await readiness()
        if problems:
            return problem_response(
                ProblemError(
                    status=503,
                    title="Service Unavailable",
                    detail="; ".join(problems),
                    errors=[{"loc": ["dependency"], "msg": p} for p in problems],
                )
            )
        return JSONResponse({"status": "ready", "service": service})

    @app.get("/asyncapi.json", tags=["ops"], summary="AsyncAPI 3.0 document of the events")
    async def asyncapi() -> Response:
        return Response(document_json(), media_type="application/json")

    @app.get(
        "/metrics",
        tags=["ops"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def metrics(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
