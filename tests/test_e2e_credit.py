"""End to end with compressed days: approval and supervision as real processes on the real
broker. Violations reported to supervision make an enterprise dishonest and approval refuses its
next submission (joint punishment, through the topic only); construction rules go yellow, red
and resolved as platform days pass; supervision killed mid-run loses and duplicates nothing.

Run under the platform lock (one whole platform at a time on a shared machine).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from testkit import auth_headers, clock_from_env, eventually_sync

from e2e_platform import Platform
from supervision_e2e import credit_code, known, report, supervision, wait_alert

pytestmark = pytest.mark.e2e

# One platform day lasts this many real seconds: a month passes in six.
DAY_SECONDS = 0.2
OPS = auth_headers("ops")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    running = Platform(
        workdir=Path(tmp_path_factory.mktemp("platform")),
        day_seconds=DAY_SECONDS,
        services=("approval", "supervision"),
    ).start()
    try:
        yield running
    finally:
        running.stop()


def today(platform: Platform) -> date:
    """The platform's date now (the services run on the same compressed clock)."""
    return clock_from_env(platform.env_used).now().date()


def body(region: str, procedure: str = "verification") -> dict[str, Any]:
    verification = procedure == "verification"
    return {
        "name": "Hillside solar farm",
        "region_code": region,
        "industry_code": "D4416",
        "procedure": procedure,
        "total_investment": "880000000",
        "location": "Hillside, east county",
        "description": "120 MW photovoltaic plant",
        "planned_start": str(date.today() + timedelta(days=3650)),
        "eia_category": "table" if verification else "none",
    }


def submit(platform: Platform, credit: str, region: str, **kw: Any) -> httpx.Response:
    return httpx.post(
        f"{platform.urls['approval']}/api/v1/projects",
        json=body(region, **kw),
        headers=auth_headers("enterprise", credit_code=credit),
        timeout=30,
    )


def test_violations_make_an_enterprise_dishonest_and_its_next_submission_is_refused(
    platform: Platform, region_code: str
) -> None:
    offender, other = credit_code(), credit_code()
    codes = []
    for _ in range(2):
        submitted = submit(platform, offender, region_code)
        assert submitted.status_code == 201, submitted.text
        code = submitted.json()["project_code"]
        codes.append(code)
        known(platform, code)
        # Construction starts while the approvals are still pending: red at once, serious record.
        report(platform, offender, code, kind="start", report_date=str(today(platform)))
        wait_alert(platform, code, "started_before_approval", "red")

    credit = supervision(platform, f"/api/v1/enterprises/{offender}/credit")
    assert credit["status"] == "dishonest"
    assert sorted(r["project_code"] for r in credit["records"]) == sorted(codes)
    assert {r["severity"] for r in credit["records"]} == {"serious"}
    public = httpx.get(f"{platform.urls['supervision']}/api/v1/public/credit/dishonest").json()
    assert offender in [item["credit_code"] for item in public["items"]]

    def refused() -> httpx.Response | None:
        response = submit(platform, offender, region_code)
        assert response.status_code in (201, 403), response.text
        return response if response.status_code == 403 else None

    response = eventually_sync(refused, timeout_s=30, what="approval hears the dishonest status")
    problem = response.json()
    assert problem["type"].endswith("/dishonest-enterprise")
    assert "dishonest list" in problem["detail"]

    accepted = submit(platform, other, region_code)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["credit_flag"] is None


def test_progress_behind_goes_yellow_then_red_then_resolved(
    platform: Platform, region_code: str
) -> None:
    enterprise = credit_code()
    filed = submit(platform, enterprise, region_code, procedure="filing")
    assert filed.status_code == 201, filed.text
    assert filed.json()["status"] == "filed"
    code = filed.json()["project_code"]
    known(platform, code)
    # Started 15 days ago, to be done in 100: 15 % expected now, 1 point more each day.
    start = today(platform) - timedelta(days=15)
    report(platform, enterprise, code, kind="start", report_date=str(start),
           planned_completion=str(start + timedelta(days=100)))  # fmt: skip
    report(platform, enterprise, code, kind="progress", report_date=str(today(platform)),
           progress_percent=2)  # fmt: skip
    yellow = wait_alert(platform, code, "progress_behind", "yellow")
    red = wait_alert(platform, code, "progress_behind", "red")  # past 30 points as days pass
    assert red["alert_id"] == yellow["alert_id"]  # escalated, the same alert
    now = today(platform)
    report(platform, enterprise, code, kind="progress", report_date=str(now),
           progress_percent=min(95, (now - start).days + 5))  # fmt: skip
    resolved = wait_alert(platform, code, "progress_behind", "resolved")
    assert resolved["alert_id"] == yellow["alert_id"]
    records = supervision(platform, f"/api/v1/enterprises/{enterprise}/credit")["records"]
    assert [(r["severity"], r["alert_id"]) for r in records] == [("ordinary", red["alert_id"])]


def test_progress_missing_goes_yellow_then_red_then_resolved(
    platform: Platform, region_code: str
) -> None:
    enterprise = credit_code()
    filed = submit(platform, enterprise, region_code, procedure="filing")
    assert filed.status_code == 201, filed.text
    code = filed.json()["project_code"]
    known(platform, code)
    # Started 25 days ago and silent since: yellow at 30 days, red at 60, as days pass.
    report(platform, enterprise, code, kind="start",
           report_date=str(today(platform) - timedelta(days=25)))  # fmt: skip
    yellow = wait_alert(platform, code, "progress_missing", "yellow")
    red = wait_alert(platform, code, "progress_missing", "red")
    assert red["alert_id"] == yellow["alert_id"]
    report(platform, enterprise, code, kind="progress", report_date=str(today(platform)),
           progress_percent=40)  # fmt: skip
    resolved = wait_alert(platform, code, "progress_missing", "resolved")
    assert resolved["alert_id"] == yellow["alert_id"]
