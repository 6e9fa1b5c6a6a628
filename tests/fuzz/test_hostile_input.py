"""The hand-made cases of the hostile-input report, each against the real services: all 4xx.

(Forged pagination cursors have their own tests beside the cursor codec.)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from fastapi import FastAPI

from testkit import TEST_JWT_SECRET

from fuzz_roles import role_headers

pytestmark = [pytest.mark.fuzz, pytest.mark.integration]

PROBLEM = "application/problem+json"
ENTERPRISE = role_headers("enterprise")
OPS = role_headers("ops")


def _project(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Riverside logistics park",
        "region_code": "440300",
        "industry_code": "G5411",
        "procedure": "verification",
        "total_investment": "250000000.00",
        "location": "Shenzhen, Bao'an district",
        "planned_start": "2027-04-01",
    }
    body.update(overrides)
    return body


def _assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    return body


def _routes(app: FastAPI) -> list[str]:
    spec = app.openapi()
    return [
        path.replace("{", "").replace("}", "")  # any value for a path parameter
        for path, ops in spec["paths"].items()
        if "get" in ops and not path.endswith("/stream")
    ]


def test_a_non_utf8_correlation_id_never_fails_a_route(
    service_app: tuple[str, FastAPI], client_of: Callable[[FastAPI], Any]
) -> None:
    _, app = service_app
    client = client_of(app)
    for path in _routes(app):
        response = client.get(path, headers={**OPS, "X-Correlation-Id": "\xff\xfebad"})
        assert response.status_code < 500, (path, response.text)
        assert response.headers["x-correlation-id"].isascii()


@pytest.mark.parametrize("text", ["a\x00b", "\ud800"])
def test_unstorable_text_is_422_naming_the_field(
    approval_app: FastAPI, client_of: Callable[[FastAPI], Any], text: str
) -> None:
    content = json.dumps(_project(name=text)).encode()  # ensure_ascii: \\u escapes

    response = client_of(approval_app).post(
        "/api/v1/projects",
        data=content,
        headers={**ENTERPRISE, "Content-Type": "application/json"},
    )

    body = _assert_problem(response, 422)
    assert ["body", "name"] in [e["loc"] for e in body["errors"]]


def test_a_body_over_the_cap_is_413(
    approval_app: FastAPI, client_of: Callable[[FastAPI], Any]
) -> None:
    content = json.dumps(_project(description="x" * 2_000_000)).encode()

    response = client_of(approval_app).post(
        "/api/v1/projects", data=content, headers={**ENTERPRISE, "Content-Type": "application/json"}
    )

    _assert_problem(response, 413)


def test_a_huge_list_of_event_types_is_refused(
    notify_app: FastAPI, client_of: Callable[[FastAPI], Any]
) -> None:
    client = client_of(notify_app)
    target = {"channel": "webhook", "target": "https://example.com/hook"}
    huge = json.dumps({**target, "event_types": ["approval.project.submitted"] * 1_000_000})
    long = json.dumps({**target, "event_types": ["approval.project.submitted"] * 1001})
    headers = {**ENTERPRISE, "Content-Type": "application/json"}

    _assert_problem(client.post("/api/v1/subscriptions", data=huge, headers=headers), 413)
    body = _assert_problem(client.post("/api/v1/subscriptions", data=long, headers=headers), 422)
    assert body["errors"][0]["loc"] == ["body", "event_types"]


def test_duplicate_json_keys_are_422_naming_the_key(
    approval_app: FastAPI, client_of: Callable[[FastAPI], Any]
) -> None:
    content = json.dumps(_project())[:-1] + ', "name": "second"}'

    response = client_of(approval_app).post(
        "/api/v1/projects", data=content, headers={**ENTERPRISE, "Content-Type": "application/json"}
    )

    body = _assert_problem(response, 422)
    assert body["errors"] == [
        {"loc": ["body", "name"], "msg": "duplicate key 'name': keys must be unique"}
    ]


def _forged(**claims: Any) -> dict[str, str]:
    token = jwt.encode({"sub": "forger", **claims}, TEST_JWT_SECRET, algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "headers",
    [
        _forged(role="ops", exp=int(time.time()) + 950 * 365 * 86_400),  # 950 years
        _forged(role="department", department="ANY-STRING", exp=int(time.time()) + 600),
        _forged(role="ops", exp=int(time.time()) + 600, iat=int(time.time()) + 3600),
        _forged(role="ops", exp=int(time.time()) + 600, nbf=int(time.time()) + 3600),
        _forged(role="ops"),  # no exp
    ],
    ids=["exp-950-years", "unknown-department", "iat-future", "nbf-future", "no-exp"],
)
def test_tokens_outside_the_rules_are_401(
    service_app: tuple[str, FastAPI], client_of: Callable[[FastAPI], Any], headers: dict[str, str]
) -> None:
    _, app = service_app
    protected = [
        p
        for p, ops in app.openapi()["paths"].items()
        if "get" in ops and ops["get"].get("security")
    ]
    assert protected
    client = client_of(app)
    for path in protected:
        if path.endswith("/stream"):
            continue
        _assert_problem(client.get(path.replace("{", "").replace("}", "")), 401)
        _assert_problem(client.get(path.replace("{", "").replace("}", ""), headers=headers), 401)


def test_a_bad_path_parameter_without_a_token_is_401(
    approval_app: FastAPI, client_of: Callable[[FastAPI], Any]
) -> None:
    client = client_of(approval_app)

    _assert_problem(client.get("/api/v1/projects/not-a-code"), 401)
    _assert_problem(client.post("/api/v1/tasks/not-a-task/decision", data=b"{"), 401)


def test_openapi_documents_the_errors_as_problem_json(service_app: tuple[str, FastAPI]) -> None:
    _, app = service_app
    spec = app.openapi()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            errors = {c: r for c, r in op["responses"].items() if c[0] in "45"}
            assert {"413", "422"} <= set(errors), (method, path)
            if op.get("security"):
                assert {"401", "403"} <= set(errors), (method, path)
            if method in ("post", "put", "patch", "delete"):
                assert "409" in errors, (method, path)
            if "{" in path:
                assert "404" in errors, (method, path)
            assert all(list(r["content"]) == [PROBLEM] for r in errors.values()), (method, path)
