"""Every service app: health, readiness, RED metrics by route template, correlation ids."""

from __future__ import annotations

import logging
import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from shared.http import CORRELATION_HEADER, create_service_app
from shared.logs import correlation_id
from shared.problems import PROBLEM_MEDIA_TYPE


class Readiness:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.calls = 0

    async def __call__(self) -> list[str]:
        self.calls += 1
        return list(self.problems)


@pytest.fixture
def service() -> str:
    return f"svc-{uuid.uuid4().hex[:8]}"  # metrics are process-wide: a label per test


@pytest.fixture
def readiness() -> Readiness:
    return Readiness()


@pytest.fixture
def app(service: str, readiness: Readiness) -> FastAPI:
    app = create_service_app(
        service=service, title="Test", description="test app", readiness=readiness
    )
    seen: dict[str, str | None] = {}
    app.state.seen = seen

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        seen["cid"] = correlation_id.get()
        return {"id": item_id}

    @app.get("/boom")
    async def boom() -> None:
        seen["cid"] = correlation_id.get()
        raise RuntimeError("kaputt")

    return app


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


def _requests(service: str, route: str, status: str, method: str = "GET") -> float:
    value = REGISTRY.get_sample_value(
        "http_requests_total",
        {"service": service, "method": method, "route": route, "status": status},
    )
    return value or 0.0


def test_healthz_is_200(client: TestClient, service: str) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": service}


def test_readyz_is_200_when_nothing_is_wrong(client: TestClient, readiness: Readiness) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["status"] == "ready"
    assert readiness.calls == 1


def test_readyz_is_503_with_every_reason(client: TestClient, readiness: Readiness) -> None:
    readiness.problems = ["database unreachable: boom", "broker 127.0.0.1:1 unreachable"]

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["status"] == 503
    assert "database unreachable: boom" in body["detail"]
    assert "broker 127.0.0.1:1 unreachable" in body["detail"]
    assert [e["msg"] for e in body["errors"]] == readiness.problems


def test_readiness_is_asked_on_every_probe(client: TestClient, readiness: Readiness) -> None:
    assert client.get("/readyz").status_code == 200
    readiness.problems = ["database unreachable"]
    assert client.get("/readyz").status_code == 503
    readiness.problems = []
    assert client.get("/readyz").status_code == 200


def test_metrics_count_requests_by_route_template(client: TestClient, service: str) -> None:
    for item_id in (1, 2, 3):
        assert client.get(f"/items/{item_id}").status_code == 200
    assert client.get("/items/not-a-number").status_code == 422

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = [
        s
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
        if s.name == "http_requests_total" and s.labels.get("service") == service
    ]
    by_labels = {(s.labels["route"], s.labels["status"]): s.value for s in samples}
    assert by_labels[("/items/{item_id}", "200")] == 3
    assert by_labels[("/items/{item_id}", "422")] == 1
    assert not any("/items/1" in route for route, _ in by_labels)
    assert "http_request_duration_seconds_bucket" in response.text


def test_unknown_paths_share_one_label(client: TestClient, service: str) -> None:
    for n in range(3):
        assert client.get(f"/random/{n}").status_code == 404

    assert _requests(service, "unmatched", "404") == 3
    assert _requests(service, "/random/0", "404") == 0


def test_unhandled_errors_count_as_500(client: TestClient, service: str) -> None:
    assert client.get("/boom").status_code == 500

    assert _requests(service, "/boom", "500") == 1


def test_correlation_id_is_echoed_and_visible_to_the_handler(client: TestClient, app) -> None:
    response = client.get("/items/7", headers={CORRELATION_HEADER: "corr-from-client"})

    assert response.headers[CORRELATION_HEADER] == "corr-from-client"
    assert app.state.seen["cid"] == "corr-from-client"
    assert correlation_id.get() is None  # reset after the request


def test_correlation_id_is_generated_when_absent(client: TestClient, app) -> None:
    first = client.get("/items/7").headers[CORRELATION_HEADER]
    second = client.get("/items/7").headers[CORRELATION_HEADER]

    assert uuid.UUID(first)
    assert first != second
    assert app.state.seen["cid"] == second


def test_correlation_id_is_on_problem_responses(client: TestClient) -> None:
    response = client.get("/nowhere", headers={CORRELATION_HEADER: "c-404"})

    assert response.status_code == 404
    assert response.headers[CORRELATION_HEADER] == "c-404"


def test_correlation_id_is_on_a_500(client: TestClient) -> None:
    response = client.get("/boom", headers={CORRELATION_HEADER: "c-500"})

    assert response.status_code == 500
    assert response.headers.get(CORRELATION_HEADER) == "c-500"


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.traces: list[str | None] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.traces.append(correlation_id.get())


def test_the_log_of_an_unhandled_error_carries_the_correlation_id(client: TestClient) -> None:
    records = _Records()
    root = logging.getLogger()
    root.addHandler(records)
    try:
        client.get("/boom", headers={CORRELATION_HEADER: "c-500"})
    finally:
        root.removeHandler(records)

    assert records.traces  # the stack trace is logged
    assert set(records.traces) == {"c-500"}
