"""The guards every service app has: the caller first, then bounded and storable input."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Query
from pydantic import BaseModel, ConfigDict

from shared.auth import CurrentPrincipal, EnterprisePrincipal, OpsPrincipal, mint_token
from shared.http import CORRELATION_HEADER, create_service_app
from shared.problems import PROBLEM_MEDIA_TYPE
from shared.settings import get_platform_settings

SECRET = "guards-test-secret-of-sufficient-length"
CREDIT = "91440300708461136T"
MAX_BODY = 2_000


class ThingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    tags: list[str] = []


async def _ready() -> list[str]:
    return []


@pytest.fixture
def app() -> FastAPI:
    settings = get_platform_settings(
        max_body_bytes=MAX_BODY, max_json_items=5, http_read_timeout_s=0.5
    )
    app = create_service_app(
        service="guards", title="t", description="d", readiness=_ready, settings=settings
    )
    app.state.jwt_secret = SECRET
    app.state.calls = 0

    @app.get("/things/{thing_id}")
    async def get_thing(
        thing_id: int, principal: CurrentPrincipal, limit: Annotated[int, Query(le=10)] = 5
    ) -> dict[str, object]:
        app.state.calls += 1
        return {"id": thing_id, "sub": principal.sub, "limit": limit}

    @app.post("/things", status_code=201)
    async def create_thing(body: ThingIn, principal: EnterprisePrincipal) -> dict[str, object]:
        app.state.calls += 1
        return {"name": body.name, "tags": body.tags, "by": principal.credit_code}

    @app.post("/ops/{n}")
    async def ops_only(n: int, body: ThingIn, _: OpsPrincipal) -> dict[str, int]:
        app.state.calls += 1
        return {"n": n}

    @app.post("/public")
    async def public(body: ThingIn) -> dict[str, str]:
        app.state.calls += 1
        return {"name": body.name}

    router = APIRouter(prefix="/routed")

    @router.post("/{n}")
    async def routed(n: int, body: ThingIn, _: OpsPrincipal) -> dict[str, int]:
        app.state.calls += 1
        return {"n": n}

    app.include_router(router)  # after the app was built, as the services do
    return app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://guards") as client:
        yield client


def _auth(role: str, **claims: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SECRET, sub='u', role=role, **claims)}"}


ENTERPRISE = _auth("enterprise", credit_code=CREDIT)
OPS = _auth("ops")


def _scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, object]:
    """A raw ASGI scope: for what httpx refuses to send (bad header bytes, lying lengths)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "server": ("test", 80),
        "client": ("test", 1),
        "scheme": "http",
        "root_path": "",
    }


async def _empty_body() -> dict[str, object]:
    return {"type": "http.request", "body": b"", "more_body": False}


def _problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body: dict[str, object] = response.json()
    assert body["status"] == status
    return body


def _locs(body: dict[str, object]) -> list[list[object]]:
    errors = body["errors"]
    assert isinstance(errors, list)
    return [e["loc"] for e in errors]


# --- authentication before validation ----------------------------------------------------


async def test_a_bad_path_parameter_without_a_token_is_401(client: httpx.AsyncClient) -> None:
    _problem(await client.get("/things/not-a-number?limit=99"), 401)


async def test_a_bad_body_without_a_token_is_401(client: httpx.AsyncClient, app) -> None:
    for content in (b"{not json", b'{"name": "a\\u0000"}', b'{"name": 1, "name": 2}'):
        _problem(await client.post("/things", content=content), 401)
    assert app.state.calls == 0


async def test_a_bad_body_with_a_garbage_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/things", content=b"[]", headers={"Authorization": "Bearer x.y.z"}
    )

    _problem(response, 401)


async def test_the_wrong_role_is_403_before_validation(client: httpx.AsyncClient) -> None:
    _problem(await client.post("/ops/x", content=b"{", headers=ENTERPRISE), 403)


async def test_routes_of_included_routers_authenticate_first(
    client: httpx.AsyncClient, app
) -> None:
    _problem(await client.post("/routed/x", content=b"{"), 401)
    _problem(await client.post("/routed/x", content=b"{", headers=ENTERPRISE), 403)
    _problem(await client.post("/routed/x", content=b"{", headers=OPS), 422)
    assert (await client.post("/routed/3", json={"name": "a"}, headers=OPS)).json() == {"n": 3}
    assert app.state.calls == 1


async def test_with_a_valid_token_validation_speaks(client: httpx.AsyncClient) -> None:
    body = _problem(await client.get("/things/not-a-number", headers=OPS), 422)

    assert _locs(body) == [["path", "thing_id"]]


async def test_the_verified_principal_reaches_the_route(client: httpx.AsyncClient) -> None:
    response = await client.get("/things/7", headers=OPS)

    assert response.status_code == 200
    assert response.json() == {"id": 7, "sub": "u", "limit": 5}


async def test_public_routes_need_no_token(client: httpx.AsyncClient) -> None:
    assert (await client.post("/public", json={"name": "x"})).status_code == 200
    _problem(await client.post("/public", json={}), 422)


async def test_unknown_paths_and_methods_stay_404_and_405(client: httpx.AsyncClient) -> None:
    _problem(await client.get("/nowhere"), 404)
    _problem(await client.delete("/things/1"), 405)


# --- text PostgreSQL cannot store ----------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "loc"),
    [
        (b'{"name": "a\\u0000b"}', ["body", "name"]),
        (b'{"name": "ok", "tags": ["x", "\\u0000"]}', ["body", "tags", 1]),
        (b'{"name": "\\ud800"}', ["body", "name"]),
        (b'{"name": "\xed\xa0\x80"}', ["body", "name"]),
    ],
)
async def test_unstorable_text_is_422_naming_the_field(
    client: httpx.AsyncClient, app, content: bytes, loc: list[object]
) -> None:
    response = await client.post(
        "/things", content=content, headers={**ENTERPRISE, "content-type": "application/json"}
    )

    assert _locs(_problem(response, 422)) == [loc]
    assert app.state.calls == 0


async def test_nul_in_a_query_or_path_is_422(client: httpx.AsyncClient, app) -> None:
    _problem(await client.get("/things/1?limit=%00", headers=OPS), 422)
    body = _problem(await client.get("/things/%00", headers=OPS), 422)
    assert _locs(body) == [["path"]]
    assert app.state.calls == 0


async def test_nul_in_a_header_is_422(app: FastAPI) -> None:
    # httpx refuses to send it; a raw ASGI call stands in for a lenient server.
    sent: list[dict[str, object]] = []
    scope = _scope("GET", "/healthz", [(b"x-thing", b"a\x00b")])

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await app(scope, _empty_body, send)

    assert sent[0]["status"] == 422


# --- duplicate keys, list sizes, body size --------------------------------------------------


async def test_duplicate_keys_are_422_naming_the_key(client: httpx.AsyncClient, app) -> None:
    response = await client.post(
        "/things", content=b'{"name": "a", "name": "b"}', headers=ENTERPRISE
    )

    body = _problem(response, 422)
    assert _locs(body) == [["body", "name"]]
    assert "duplicate key 'name'" in str(body["detail"])
    assert app.state.calls == 0


async def test_lists_over_the_cap_are_422(client: httpx.AsyncClient) -> None:
    ok = await client.post("/things", json={"name": "a", "tags": list("abcde")}, headers=ENTERPRISE)
    assert ok.status_code == 201
    response = await client.post(
        "/things", json={"name": "a", "tags": list("abcdef")}, headers=ENTERPRISE
    )

    assert _locs(_problem(response, 422)) == [["body", "tags"]]


async def test_a_body_over_the_cap_is_413(client: httpx.AsyncClient, app) -> None:
    big = json.dumps({"name": "x" * MAX_BODY}).encode()

    _problem(await client.post("/things", content=big, headers=ENTERPRISE), 413)
    assert app.state.calls == 0


async def test_a_body_at_the_cap_passes(client: httpx.AsyncClient) -> None:
    name = "x" * (MAX_BODY - len(b'{"name": ""}'))
    content = json.dumps({"name": name}).encode()
    assert len(content) == MAX_BODY

    response = await client.post(
        "/things", content=content, headers={**ENTERPRISE, "content-type": "application/json"}
    )

    assert response.status_code == 201, response.text


async def test_a_chunked_body_is_cut_off_while_streaming(client: httpx.AsyncClient) -> None:
    pulled = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal pulled
        yield b'{"name": "'
        while True:  # never ends: only a cap enforced while streaming can answer
            pulled += 1
            yield b"x" * 100

    response = await client.post("/things", content=endless(), headers=ENTERPRISE)

    _problem(response, 413)
    assert pulled <= MAX_BODY // 100 + 1


async def test_a_lying_content_length_is_refused_before_reading(app: FastAPI) -> None:
    sent: list[dict[str, object]] = []
    reads = 0
    scope = _scope("POST", "/public", [(b"content-length", str(10 * MAX_BODY).encode())])

    async def receive() -> dict[str, object]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await app(scope, receive, send)

    assert sent[0]["status"] == 413
    assert reads == 0


async def test_a_body_that_stalls_is_408(app: FastAPI) -> None:
    sent: list[dict[str, object]] = []
    first = True
    scope = _scope("POST", "/public", [(b"content-length", b"100")])

    async def receive() -> dict[str, object]:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b'{"na', "more_body": True}
        await asyncio.Event().wait()  # the rest never comes
        raise AssertionError("unreachable")

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), timeout=10)

    assert sent[0]["status"] == 408
    assert (b"connection", b"close") in sent[0]["headers"]


# --- correlation ids --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", [b"\xff\xfe", b"caf\xc3\xa9", b"has space", b"x" * 129, b"tab\there", b""]
)
async def test_an_insane_correlation_id_is_replaced_on_every_route(
    app: FastAPI, raw: bytes
) -> None:
    for path, headers in (
        ("/healthz", []),
        ("/things/1", [(b"authorization", OPS["Authorization"].encode())]),
    ):
        sent: list[dict[str, object]] = []
        scope = _scope("GET", path, [(CORRELATION_HEADER.encode(), raw), *headers])

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        await app(scope, _empty_body, send)

        assert sent[0]["status"] == 200
        echoed = dict(sent[0]["headers"])[CORRELATION_HEADER.encode()]
        assert echoed != raw
        assert uuid.UUID(echoed.decode())  # a fresh one
