"""Errors as `application/problem+json` (RFC 9457); validation errors name the field."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.pagination import InvalidCursor

PROBLEM_MEDIA_TYPE = "application/problem+json"
_TYPE_BASE = "https://investment-platform.example/problems/"
log = logging.getLogger(__name__)


class ProblemError(Exception):
    """Raise anywhere in a request to answer with a problem document."""

    def __init__(
        self,
        *,
        status: int,
        title: str,
        detail: str,
        type_: str | None = None,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_ or _TYPE_BASE + title.lower().replace(" ", "-")
        self.errors = list(errors) if errors else None
        self.headers = dict(headers or {})


def not_found(what: str) -> ProblemError:
    return ProblemError(status=404, title="Not Found", detail=f"{what} was not found")


def conflict(detail: str) -> ProblemError:
    return ProblemError(status=409, title="Conflict", detail=detail)


def field_error(loc: Sequence[str | int], msg: str, *, status: int = 422) -> ProblemError:
    """A validation problem about one field, found after parsing (e.g. a checksum)."""
    where = ".".join(str(p) for p in loc)
    return ProblemError(
        status=status,
        title="Validation Error",
        detail=f"{where}: {msg}",
        errors=[{"loc": list(loc), "msg": msg}],
    )


def problem_response(problem: ProblemError) -> JSONResponse:
    body: dict[str, Any] = {
        "type": problem.type,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
    }
    if problem.errors is not None:
        body["errors"] = problem.errors
    return JSONResponse(
        body, status_code=problem.status, media_type=PROBLEM_MEDIA_TYPE, headers=problem.headers
    )


def _loc(raw: Sequence[Any]) -> list[str | int]:
    # FastAPI prefixes the location with where it came from ("body", "query", "path", ...);
    # the field path after it is what a client needs, the origin stays as the first element.
    return [p if isinstance(p, int) else str(p) for p in raw]


def validation_problem(exc: RequestValidationError) -> ProblemError:
    errors: list[dict[str, Any]] = []
    parts: list[str] = []
    for e in exc.errors():
        loc = _loc(e.get("loc", ()))
        msg = str(e.get("msg", "invalid"))
        errors.append({"loc": loc, "msg": msg})
        parts.append(f"{'.'.join(str(p) for p in loc) or 'request'}: {msg}")
    return ProblemError(
        status=422,
        title="Validation Error",
        detail="invalid request: " + "; ".join(parts),
        errors=errors,
    )


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(_: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(InvalidCursor)
    async def _cursor(_: Request, exc: InvalidCursor) -> JSONResponse:
        return problem_response(field_error(["query", exc.field], str(exc)))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(validation_problem(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not Found", 405: "Method Not Allowed", 401: "Unauthorized"}
        return problem_response(
            ProblemError(
                status=exc.status_code,
                title=titles.get(exc.status_code, "HTTP Error"),
                detail=str(exc.detail),
                headers=getattr(exc, "headers", None),
            )
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return problem_response(
            ProblemError(status=500, title="Internal Server Error", detail="unexpected error")
        )
