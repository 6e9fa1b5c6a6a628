"""Every service's OpenAPI document lists its error answers as problem+json."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from shared.auth import CurrentPrincipal, OpsPrincipal
from shared.http import create_service_app
from shared.openapi import PROBLEM_REF
from shared.problems import PROBLEM_MEDIA_TYPE


class ThingIn(BaseModel):
    name: str


async def _ready() -> list[str]:
    return []


@pytest.fixture
def spec() -> dict[str, Any]:
    app = create_service_app(service="doc", title="t", description="d", readiness=_ready)
    router = APIRouter()

    @router.get("/things/{thing_id}")
    async def get_thing(thing_id: int, _: CurrentPrincipal) -> dict[str, int]:
        return {"id": thing_id}

    @router.post("/things", responses={409: {"description": "A thing of that name exists"}})
    async def create_thing(body: ThingIn, _: OpsPrincipal) -> dict[str, str]:
        return {"name": body.name}

    @router.get("/public")
    async def public(q: str = "") -> dict[str, str]:
        return {"q": q}

    app.include_router(router)  # after the app was built, as services do
    return TestClient(app).get("/openapi.json").json()


def _errors(operation: dict[str, Any]) -> dict[str, Any]:
    return {code: r for code, r in operation["responses"].items() if code[0] in "45"}


def test_each_route_documents_the_errors_it_can_answer(spec: dict[str, Any]) -> None:
    paths = spec["paths"]

    assert set(_errors(paths["/things/{thing_id}"]["get"])) == {"401", "403", "404", "413", "422"}
    assert set(_errors(paths["/things"]["post"])) == {"401", "403", "409", "413", "422"}
    assert set(_errors(paths["/public"]["get"])) == {"404", "413", "422"}
    assert set(_errors(paths["/readyz"]["get"])) == {"413", "422", "503"}


def test_every_error_is_problem_json_with_the_problem_schema(spec: dict[str, Any]) -> None:
    for path in spec["paths"].values():
        for operation in path.values():
            for response in _errors(operation).values():
                assert response["content"] == {
                    PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}
                }
                assert response["description"]


def test_a_routes_own_description_is_kept(spec: dict[str, Any]) -> None:
    conflict = spec["paths"]["/things"]["post"]["responses"]["409"]

    assert conflict["description"] == "A thing of that name exists"


def test_the_problem_schema_replaces_fastapis_validation_shapes(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]

    assert schemas["Problem"]["required"] == ["type", "title", "status", "detail"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas


def test_routes_added_after_the_first_document_are_covered() -> None:
    app: FastAPI = create_service_app(service="doc2", title="t", description="d", readiness=_ready)
    client = TestClient(app)
    assert "/late/{n}" not in client.get("/openapi.json").json()["paths"]

    @app.get("/late/{n}")
    async def late(n: int, _: CurrentPrincipal) -> dict[str, int]:
        return {"n": n}

    late_op = client.get("/openapi.json").json()["paths"]["/late/{n}"]["get"]
    assert {"401", "404", "422"} <= set(late_op["responses"])
