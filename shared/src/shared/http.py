"""What every service's HTTP app has: problem errors, RED metrics, correlation ids, health."""

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
from shared.logs import correlation_id
from shared.metrics import HTTP_DURATION, HTTP_REQUESTS
from shared.problems import ProblemError, install_problem_handlers, problem_response

CORRELATION_HEADER = "x-correlation-id"
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
            (v.decode() for k, v in scope.get("headers", []) if k == CORRELATION_HEADER.encode()),
            None,
        )
        # A caller's id is kept when sane (bounded, printable), else a fresh one is made.
        cid = incoming if incoming and len(incoming) <= 128 and incoming.isprintable() else None
        cid = cid or str(uuid.uuid4())
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


def create_service_app(
    *,
    service: str,
    title: str,
    description: str,
    readiness: Readiness,
    lifespan: Any = None,
    version: str = "1.0.0",
) -> FastAPI:
    app = FastAPI(title=title, description=description, version=version, lifespan=lifespan)
    install_problem_handlers(app)
    app.add_middleware(ObservabilityMiddleware, service=service)

    @app.get("/healthz", tags=["ops"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get("/readyz", tags=["ops"], summary="Database and broker are reachable")
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

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics")
    async def metrics(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
