"""Portal tests: the services are faked with httpx.MockTransport (no network, no processes)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from portal_svc.app import create_app
from portal_svc.settings import PortalSettings
from shared.clock import ManualClock
from testkit import TEST_JWT_SECRET

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeServices:
    """Routes `METHOD host/path` regexes to handlers; records every request."""

    routes: list[tuple[str, str, Handler]] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def on(self, method: str, pattern: str, handler: Handler | Any, status: int = 200) -> None:
        if not callable(handler):
            body = handler
            handler = lambda _r: httpx.Response(status, json=body)  # noqa: E731
        self.routes.insert(0, (method, pattern, handler))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        target = f"{request.url.host}:{request.url.port}{request.url.path}"
        for method, pattern, handler in self.routes:
            if method == request.method and re.fullmatch(pattern, target):
                return handler(request)
        return httpx.Response(404, json={"title": "Not Found", "status": 404, "detail": target})

    def sent(self, method: str, path_pattern: str) -> list[httpx.Request]:
        return [
            r
            for r in self.requests
            if r.method == method and re.fullmatch(path_pattern, r.url.path)
        ]


def problem(status: int, detail: str, errors: list[dict[str, Any]] | None = None) -> httpx.Response:
    body = {"type": "about:blank", "title": "Validation Error", "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    return httpx.Response(
        status, content=json.dumps(body), headers={"content-type": "application/problem+json"}
    )


@pytest.fixture
def fake() -> FakeServices:
    services = FakeServices()
    services.on("GET", r".*:8001/api/v1/projects", {"items": [], "next_cursor": None})
    services.on("GET", r".*:8001/api/v1/departments", {"items": [], "next_cursor": None})
    return services


@pytest.fixture
def settings() -> PortalSettings:
    return PortalSettings(jwt_secret=TEST_JWT_SECRET, dev_login=True)


@pytest.fixture
def client(fake: FakeServices, settings: PortalSettings) -> Iterator[TestClient]:
    app = create_app(settings, transport=httpx.MockTransport(fake), clock=ManualClock(NOW))
    with TestClient(app) as test_client:
        yield test_client


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def sign_in(client: TestClient, role: str = "enterprise", **extra: str) -> httpx.Response:
    page = client.get("/sign-in")
    form = {"csrf_token": csrf_of(page.text), "role": role, "next": "/", **extra}
    if role == "enterprise":
        form.setdefault("credit_code", "91440300708461136T")
    if role == "department":
        form.setdefault("department", "MEE")
    response = client.post("/sign-in", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    return response
