"""End to end: the real broker and the three real service processes, driven over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.events import EventType, new_event
from shared.topics import APPROVAL_PROJECTS
from testkit import auth_headers, eventually_sync, produce_events

from e2e_platform import Platform

pytestmark = pytest.mark.e2e

CREDIT = "91440300708461136T"
ENTERPRISE = auth_headers("enterprise", credit_code=CREDIT)
OPS = auth_headers("ops")


def project_body(region_code: str, name: str = "Hillside solar farm") -> dict[str, Any]:
    return {
        "name": name,
        "region_code": region_code,
        "industry_code": "D4416",
        "procedure": "verification",
        "total_investment": "880000000",
        "location": "Hillside, east county",
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


def submit(platform: Platform, region_code: str, name: str = "Hillside solar farm") -> str:
    """Submit a project in `region_code` (the test's own); its project code."""
    response = httpx.post(
        f"{platform.urls['approval']}/api/v1/projects",
        json=project_body(region_code, name),
        headers=ENTERPRISE,
        timeout=30,
    )
    assert response.status_code == 201, response.text
    code: str = response.json()["project_code"]
    assert code.split("-")[1] == region_code
    return code


def overview(platform: Platform) -> dict[str, Any]:
    response = httpx.get(
        f"{platform.urls['supervision']}/api/v1/stats/overview", headers=OPS, timeout=10
    )
    assert response.status_code == 200, response.text
    stats: dict[str, Any] = response.json()
    return stats


def projects_total(platform: Platform) -> int:
    total: int = overview(platform)["projects_total"]
    return total


def deliveries_for(platform: Platform, code: str) -> list[dict[str, Any]]:
    """The project's deliveries, oldest first."""
    response = httpx.get(
        f"{platform.urls['notify']}/api/v1/deliveries",
        params={"project_code": code, "limit": 500},
        headers=OPS,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items[::-1]  # the API lists newest first


def submitted_deliveries(platform: Platform, code: str) -> list[dict[str, Any]]:
    return [
        d for d in deliveries_for(platform, code) if d["event_type"] == EventType.PROJECT_SUBMITTED
    ]


def metric(platform: Platform, service: str, sample: str, **labels: str) -> float:
    """The sum of a service's `sample` (e.g. 'events_consumed_total') over matching labels."""
    text = httpx.get(f"{platform.urls[service]}/metrics", timeout=10).text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
    )


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


def test_a_submission_travels_through_all_three_services(
    platform: Platform, region_code: str
) -> None:
    before = projects_total(platform)
    code = submit(platform, region_code)

    eventually_sync(
        lambda: projects_total(platform) == before + 1,
        timeout_s=60,
        what="supervision projects the submission",
    )
    stats = overview(platform)
    assert stats["projects_by_status"].get("in_review", 0) >= 1
    assert stats["by_department"]["MEE"]["pending"] >= 1

    delivered = eventually_sync(
        lambda: submitted_deliveries(platform, code),
        timeout_s=60,
        what="notify-svc records the delivery of project.submitted",
    )
    assert len(delivered) == 1
    assert delivered[0]["channel"] == "log"
    assert delivered[0]["status"] == "delivered"


def test_the_same_event_twice_has_one_effect(platform: Platform, region_code: str) -> None:
    submitted = {"type": str(EventType.PROJECT_SUBMITTED)}
    applied = {**submitted, "outcome": "processed"}
    applied_before = metric(platform, "supervision", "events_consumed_total", **applied)
    dropped_before = {
        service: metric(platform, service, "duplicate_events_dropped_total", **submitted)
        for service in ("supervision", "notify")
    }
    total = projects_total(platform)
    code = submit(platform, region_code, "Duplicate check")
    eventually_sync(
        lambda: submitted_deliveries(platform, code), timeout_s=60, what="the original's delivery"
    )
    eventually_sync(
        lambda: projects_total(platform) == total + 1,
        timeout_s=60,
        what="supervision projects the original",
    )
    project = httpx.get(
        f"{platform.urls['approval']}/api/v1/projects/{code}", headers=OPS, timeout=10
    ).json()
    copy = new_event(type=EventType.PROJECT_SUBMITTED, source="/e2e", subject=code, data=project)
    # Sent after the repeat with the same key (the project code, so the same partition): once
    # a consumer has applied the sentinel, it has dealt with the repeat before it.
    sentinel = new_event(
        type=EventType.PROJECT_SUBMITTED, source="/e2e", subject=code, data=project
    )

    produce_events(platform.bootstrap, APPROVAL_PROJECTS, [copy, copy, sentinel])

    # notify: one delivery each for the original, the copy (a new id) and the sentinel.
    def notify_applied_the_sentinel() -> list[str]:
        ids = [d["event_id"] for d in submitted_deliveries(platform, code)]
        return ids if sentinel.id in ids else []

    delivered = eventually_sync(
        notify_applied_the_sentinel, timeout_s=60, what="notify delivers the sentinel"
    )
    assert delivered[1:] == [copy.id, sentinel.id]

    # supervision: the original, the copy and the sentinel applied; the repeat dropped.
    def supervision_applied() -> float:
        return metric(platform, "supervision", "events_consumed_total", **applied) - applied_before

    eventually_sync(
        lambda: supervision_applied() >= 3, timeout_s=60, what="supervision applies the sentinel"
    )
    assert supervision_applied() == 3
    for service, before in dropped_before.items():
        dropped = metric(platform, service, "duplicate_events_dropped_total", **submitted)
        assert dropped == before + 1, service
    assert projects_total(platform) == total + 1


def test_broker_outage_loses_nothing(platform: Platform, region_code: str) -> None:
    """The broker stops for 20 s while projects are submitted: all 201, all events arrive."""
    before = projects_total(platform)
    platform.stop_broker()
    codes: list[str] = []
    started = time.monotonic()
    while time.monotonic() - started < 20:
        codes.append(submit(platform, region_code, f"Outage project {len(codes)}"))
        time.sleep(1)  # pacing only: the submissions spread over the whole outage
    # The outbox holds them meanwhile (the relay counts its backlog when a send fails).
    eventually_sync(
        lambda: metric(platform, "approval", "outbox_backlog") >= len(codes),
        timeout_s=30,
        what="the submissions wait in the outbox",
    )
    assert httpx.get(f"{platform.urls['approval']}/readyz").status_code == 503
    platform.start_broker()

    eventually_sync(
        lambda: projects_total(platform) == before + len(codes),
        timeout_s=120,
        what=f"supervision projects all {len(codes)} submissions",
    )
    eventually_sync(
        lambda: all(submitted_deliveries(platform, code) for code in codes),
        timeout_s=60,
        what="notify delivers every submission",
    )
    eventually_sync(
        lambda: httpx.get(f"{platform.urls['approval']}/readyz").status_code == 200,
        timeout_s=60,
        what="approval ready again",
    )
    eventually_sync(
        lambda: metric(platform, "approval", "outbox_backlog") == 0,
        timeout_s=60,
        what="the outbox drained",
    )
    for code in codes:  # each submission delivered exactly once
        types = [d["event_type"] for d in deliveries_for(platform, code)]
        assert types.count(EventType.PROJECT_SUBMITTED) == 1, (code, types)
    # ...and as the project's first delivery: a consumer that reconnects to the new broker
    # waits until its topics are known to be new (and restarts in a new group, from their
    # beginning) instead of applying what it fetched from the middle of them first.
    out_of_order = [
        code
        for code in codes
        if deliveries_for(platform, code)[0]["event_type"] != EventType.PROJECT_SUBMITTED
    ]
    assert not out_of_order, f"per-project order broken after the outage for {out_of_order}"
