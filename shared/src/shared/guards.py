"""ASGI guards in front of every route: the caller first, then the shape of the input.

`AuthFirstMiddleware` answers 401/403 before anything about the request is validated (a
caller without a valid token learns nothing about parameters or bodies). `InputGuardMiddleware`
then caps the body while it streams in (413), gives up on a client that stalls in its body
(408), and refuses text PostgreSQL cannot store, duplicate JSON keys, over-long arrays and
over-deep nesting (422 naming the field) before a handler sees any of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from email.message import Message as EmailMessage
from typing import Any
from urllib.parse import parse_qsl

import fastapi.routing
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import PRINCIPAL_STATE_KEY, Access, authenticate, route_access, token_policy
from shared.jsonguard import JsonLimits, bad_text, inspect_json
from shared.problems import ProblemError, problem_response

DEFAULT_MAX_BODY_BYTES = 1_048_576
DEFAULT_READ_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class InputLimits:
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S
    json: JsonLimits = field(default_factory=JsonLimits)


async def _answer(problem: ProblemError, scope: Scope, receive: Receive, send: Send) -> None:
    await problem_response(problem)(scope, receive, send)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


class AuthFirstMiddleware:
    """Authenticates (401) and authorises by role (403) before the route validates input.

    The route's requirements are read from its dependency tree (`get_principal`,
    `require_roles`), so routes need nothing extra; the verified principal is handed to
    `get_principal` through the request state so the token is decoded once.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        access = _route_access(scope)
        if access is not None:
            app_state = scope["app"].state
            raw = _header(scope, b"authorization")
            try:
                principal = authenticate(
                    raw.decode("latin-1") if raw is not None else None,
                    app_state.jwt_secret,
                    token_policy(app_state),
                )
                access.check(principal)
            except ProblemError as problem:
                await _answer(problem, scope, receive, send)
                return
            scope.setdefault("state", {})[PRINCIPAL_STATE_KEY] = principal
        await self.app(scope, receive, send)


def effective_routes(routes: Sequence[Any]) -> Iterator[Any]:
    """Every route as served, routers included (with their prefix and dependencies).

    FastAPI includes routers lazily (`_IncludedRouter`); `iter_route_contexts` yields one
    context per effective route, with the attributes of a route (`matches`, `dependant`,
    `path_format`, `methods`). Older FastAPI versions copy routes on inclusion instead.
    """
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    return iter(iterate(routes)) if iterate is not None else iter(routes)


def _route_access(scope: Scope) -> Access | None:
    routes = getattr(getattr(scope.get("app"), "router", None), "routes", ())
    for route in effective_routes(routes):
        match, _ = route.matches(scope)
        if match is Match.FULL:
            # A walk of a handful of dependency nodes: cheaper than keeping a cache right.
            return route_access(getattr(route, "dependant", None))
    return None  # unmatched or wrong method: the router answers 404/405 as usual


def _is_json(content_type: bytes | None) -> bool:
    # As FastAPI decides whether to parse a body as JSON: application/json or */*+json, or no
    # content type at all (parsed when a route turns strict_content_type off).
    if not content_type:
        return True
    message = EmailMessage()
    message["content-type"] = content_type.decode("latin-1")
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def _too_large(limit: int) -> ProblemError:
    return ProblemError(
        status=413,
        title="Content Too Large",
        detail=f"the request body may hold at most {limit} bytes",
        headers={"Connection": "close"},
    )


def _invalid(errors: list[dict[str, Any]]) -> ProblemError:
    parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors]
    return ProblemError(
        status=422,
        title="Validation Error",
        detail="invalid request: " + "; ".join(parts),
        errors=errors,
    )


def _url_problems(scope: Scope) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    if why := bad_text(scope.get("path", "")):
        errors.append({"loc": ["path"], "msg": why})
    query = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                safe = name.replace("\x00", "\\u0000")
                errors.append({"loc": ["query", safe], "msg": bad_text("\x00")})
    for name, value in scope.get("headers", ()):
        if b"\x00" in value:
            errors.append({"loc": ["header", name.decode("latin-1")], "msg": bad_text("\x00")})
    return errors


class _BodyTooLarge(Exception):
    pass


class InputGuardMiddleware:
    """Reads a request body once, bounded in size and time, checks it, then replays it."""

    def __init__(self, app: ASGIApp, *, limits: InputLimits | None = None) -> None:
        self.app = app
        self.limits = limits or InputLimits()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if errors := _url_problems(scope):
            await _answer(_invalid(errors), scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is None and _header(scope, b"transfer-encoding") is None:
            await self.app(scope, receive, send)  # no body: nothing to read (e.g. SSE, GET)
            return
        limit = self.limits.max_body_bytes
        if length is not None and length.strip().isdigit() and int(length) > limit:
            await _answer(_too_large(limit), scope, receive, send)
            return
        try:
            async with asyncio.timeout(self.limits.read_timeout_s):
                body, disconnected = await self._read(receive, limit)
        except _BodyTooLarge:
            await _answer(_too_large(limit), scope, receive, send)
            return
        except TimeoutError:
            problem = ProblemError(
                status=408,
                title="Request Timeout",
                detail=f"the request body did not arrive within {self.limits.read_timeout_s} s",
                headers={"Connection": "close"},
            )
            await _answer(problem, scope, receive, send)
            return
        if disconnected:
            return  # the client went away: nobody to answer
        if body and _is_json(_header(scope, b"content-type")):
            verdict = inspect_json(body, self.limits.json)
            if verdict is not None and verdict.errors:
                await _answer(_invalid(verdict.errors), scope, receive, send)
                return
        await self.app(scope, _replay(body, receive), send)

    @staticmethod
    async def _read(receive: Receive, limit: int) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"", True
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), False


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # afterwards: the real channel (e.g. http.disconnect)

    return replay
