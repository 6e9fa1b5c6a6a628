"""The OpenAPI document tells the truth about errors, for every route, without touching routes.

Every error a service answers is `application/problem+json` (see `shared.problems`); FastAPI
documents neither that media type nor the errors its dependencies and the shared guards raise.
`document_problems(app)` wraps `app.openapi` so each operation lists, with the Problem schema:
401 and 403 where the route needs a token, 404 where it has path or query parameters, 409 for
methods that change state, and 413 and 422 everywhere (the input guards apply to every request).
Errors a route documents itself keep their description and get the problem media type.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from shared.auth import route_access
from shared.guards import effective_routes
from shared.problems import PROBLEM_MEDIA_TYPE

PROBLEM_REF = "#/components/schemas/Problem"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error, as RFC 9457 problem details; `errors` names each bad field.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "title": "Type"},
        "title": {"type": "string", "title": "Title"},
        "status": {"type": "integer", "title": "Status"},
        "detail": {"type": "string", "title": "Detail"},
        "errors": {
            "type": "array",
            "title": "Errors",
            "items": {
                "type": "object",
                "required": ["loc", "msg"],
                "properties": {
                    "loc": {
                        "type": "array",
                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    },
                    "msg": {"type": "string"},
                },
            },
        },
    },
}

DESCRIPTIONS = {
    400: "Bad Request",
    401: "Missing, expired or invalid bearer token",
    403: "The caller's role or tenant may not do this",
    404: "Not found (or not visible to the caller)",
    408: "The request did not arrive in time",
    409: "Conflicts with the current state",
    413: "The request body is too large",
    422: "Invalid input; `errors` names each field",
    503: "A dependency is unavailable",
}


def problem_response_doc(status: int, description: str | None = None) -> dict[str, Any]:
    return {
        "description": description or DESCRIPTIONS.get(status, "Error"),
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}},
    }


def error_statuses(route: Any, method: str) -> list[int]:
    """The error statuses this route can answer for `method`, read from what it declares."""
    statuses = [413, 422]
    if route_access(route.dependant) is not None:
        statuses += [401, 403]
    dependant = route.dependant
    if "{" in route.path_format or _has_query(dependant):
        statuses.append(404)  # a path or query parameter may name something that is not there
    if method in UNSAFE_METHODS:
        statuses.append(409)
    return sorted(statuses)


def _has_query(dependant: Any) -> bool:
    stack = [dependant]
    while stack:
        node = stack.pop()
        if getattr(node, "query_params", None):
            return True
        stack.extend(getattr(node, "dependencies", ()))
    return False


def _is_api_route(route: Any) -> bool:
    # A FastAPI route, or the context of one included through a router.
    return isinstance(route, APIRoute) or isinstance(
        getattr(route, "original_route", None), APIRoute
    )


def _as_problem(response: dict[str, Any], status: int) -> None:
    doc = problem_response_doc(status, response.get("description"))
    response["content"] = doc["content"]
    response["description"] = doc["description"]


def add_problem_responses(schema: dict[str, Any], routes: list[Any]) -> dict[str, Any]:
    """Post-process a generated document in place (idempotent) and return it."""
    paths = schema.get("paths", {})
    for route in effective_routes(routes):
        if not _is_api_route(route) or not route.include_in_schema:
            continue
        for method in sorted(route.methods or ()):
            operation = paths.get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status in error_statuses(route, method):
                responses.setdefault(str(status), problem_response_doc(status))
            for code, response in responses.items():
                if code[:1] in ("4", "5"):
                    _as_problem(response, int(code))
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    # FastAPI's own 422 shapes are never answered (validation errors are problems): drop them
    # unless something else still refers to them.
    for name in ("HTTPValidationError", "ValidationError"):
        if name in components:
            rest = {k: v for k, v in schema.items() if k != "components"}
            others = {k: v for k, v in components.items() if k != name}
            if f"#/components/schemas/{name}" not in json.dumps([rest, others]):
                del components[name]
    return schema


def document_problems(app: FastAPI) -> None:
    """Make `app.openapi()` document problem responses; routes added later are covered too."""
    generate: Callable[[], dict[str, Any]] = app.openapi
    done: list[dict[str, Any]] = []  # the last document processed (held, so no id is reused)

    def openapi() -> dict[str, Any]:
        schema = generate()  # FastAPI caches it until the routes change
        if not done or done[0] is not schema:
            add_problem_responses(schema, list(app.routes))
            done[:] = [schema]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented extension point
