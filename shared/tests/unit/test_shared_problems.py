"""Errors are RFC 9457 problem documents; validation errors name the field."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from shared.problems import (
    PROBLEM_MEDIA_TYPE,
    ProblemError,
    conflict,
    field_error,
    install_problem_handlers,
    not_found,
)

LEAK = "password=hunter2 at db.internal:5432"


class Thing(BaseModel):
    name: str = Field(min_length=1)
    count: int = Field(ge=0)


@pytest.fixture
def app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/things", status_code=201)
    async def create(thing: Thing) -> Thing:
        return thing

    @app.get("/things/{thing_id}")
    async def get_one(thing_id: int) -> dict[str, int]:
        if thing_id == 404:
            raise not_found(f"thing {thing_id}")
        if thing_id == 409:
            raise conflict("thing 409 is not pending")
        return {"id": thing_id}

    @app.get("/search")
    async def search(q: str) -> list[str]:
        return [q]

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(LEAK)

    return app


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


def _problem(response, status: int) -> dict:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


def test_body_validation_is_422_naming_each_field(client: TestClient) -> None:
    body = _problem(client.post("/things", json={"name": "", "count": -1}), 422)

    locs = [tuple(e["loc"]) for e in body["errors"]]
    assert ("body", "name") in locs
    assert ("body", "count") in locs
    assert all(e["msg"] for e in body["errors"])
    assert "body.name" in body["detail"]
    assert "body.count" in body["detail"]


def test_missing_field_is_named(client: TestClient) -> None:
    body = _problem(client.post("/things", json={"name": "x"}), 422)

    assert body["errors"] == [{"loc": ["body", "count"], "msg": "Field required"}]


def test_malformed_json_is_a_4xx_problem(client: TestClient) -> None:
    response = client.post(
        "/things", content=b"{not json", headers={"content-type": "application/json"}
    )

    body = _problem(response, 422)
    assert body["errors"][0]["loc"][0] == "body"


def test_query_and_path_validation_name_their_origin(client: TestClient) -> None:
    query = _problem(client.get("/search"), 422)
    path = _problem(client.get("/things/abc"), 422)

    assert query["errors"][0]["loc"] == ["query", "q"]
    assert path["errors"][0]["loc"] == ["path", "thing_id"]


def test_unknown_route_is_a_404_problem(client: TestClient) -> None:
    body = _problem(client.get("/no/such/route"), 404)

    assert body["title"] == "Not Found"


def test_wrong_method_is_a_405_problem_that_keeps_the_allow_header(client: TestClient) -> None:
    response = client.delete("/things/1")

    _problem(response, 405)
    assert "GET" in response.headers["allow"]


def test_raised_problems_are_rendered(client: TestClient) -> None:
    missing = _problem(client.get("/things/404"), 404)
    clash = _problem(client.get("/things/409"), 409)

    assert missing["detail"] == "thing 404 was not found"
    assert clash["detail"] == "thing 409 is not pending"
    assert clash["type"].endswith("/conflict")


def test_unhandled_error_is_a_500_problem_without_details(client: TestClient) -> None:
    response = client.get("/boom")

    body = _problem(response, 500)
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert body["title"] == "Internal Server Error"


def test_field_error_and_headers() -> None:
    problem = field_error(["body", "credit_code"], "check character does not match")
    with_header = ProblemError(status=401, title="Unauthorized", detail="x",
                               headers={"WWW-Authenticate": "Bearer"})  # fmt: skip

    assert problem.status == 422
    assert problem.errors == [
        {"loc": ["body", "credit_code"], "msg": "check character does not match"}
    ]
    assert problem.detail.startswith("body.credit_code:")
    assert with_header.headers == {"WWW-Authenticate": "Bearer"}
    assert with_header.type.endswith("/unauthorized")
