"""Helpers of the end-to-end supervision tests: approval and supervision as real processes on the
real broker with compressed days (`test_e2e_supervision_rules.py`, `test_e2e_supervision_kill.py`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from stdnum.cn import uscc

from shared.events import CloudEvent, EventType
from shared.topics import SUPERVISION_REPORTS
from testkit import TopicReader, auth_headers, clock_from_env, eventually_sync

from e2e_platform import Platform

# One platform day lasts this many real seconds: a 60-day time limit runs out in 15.
DAY_SECONDS = 0.25
OPS = auth_headers("ops")
START_RED_AFTER_DAYS = 90  # rules.yaml: start_overdue goes red 3 months after the yellow
ALERT_EVENTS = {EventType.ALERT_RAISED, EventType.ALERT_RESOLVED}


def start_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A module's platform: approval and supervision, one platform day = DAY_SECONDS."""
    running = Platform(
        workdir=Path(tmp_path_factory.mktemp("platform")),
        day_seconds=DAY_SECONDS,
        services=("approval", "supervision"),
    ).start()
    try:
        yield running
    finally:
        running.stop()


# --- talking to the platform ---------------------------------------------------------------


def credit_code() -> str:
    base = "91440300" + uuid.uuid4().hex[:9].upper()  # hex: only characters USCC allows
    return base + uscc.calc_check_digit(base)


def now(platform: Platform) -> datetime:
    """The platform's instant now (the services run on the same compressed clock)."""
    return clock_from_env(platform.env_used).now()


def today(platform: Platform) -> date:
    return now(platform).date()


def first_of_next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def submit(
    platform: Platform,
    credit: str,
    region: str,
    *,
    eia: str = "none",
    planned_start: date | None = None,
) -> dict[str, Any]:
    """A filing project: filed at once, or in review with one MEE task when `eia` triggers it."""
    body = {
        "name": "Riverside warehouse",
        "region_code": region,
        "industry_code": "G5920",
        "procedure": "filing",
        "total_investment": "120000000",
        "location": "Riverside, north county",
        "description": "Cold-chain warehouse",
        "planned_start": str(planned_start or date.today() + timedelta(days=3650)),
        "eia_category": eia,
    }
    response = httpx.post(
        f"{platform.urls['approval']}/api/v1/projects",
        json=body,
        headers=auth_headers("enterprise", credit_code=credit),
        timeout=30,
    )
    assert response.status_code == 201, response.text
    project: dict[str, Any] = response.json()
    return project


def decide(platform: Platform, task: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"{platform.urls['approval']}/api/v1/tasks/{task['task_id']}/decision",
        json={"decision": "approved", "opinion": "complies"},
        headers=auth_headers("department", department=task["department"]),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    decided: dict[str, Any] = response.json()
    return decided


def supervision(platform: Platform, path: str, **params: Any) -> Any:
    response = httpx.get(
        f"{platform.urls['supervision']}{path}", params=params, headers=OPS, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def known(platform: Platform, code: str) -> None:
    def projected() -> bool:
        url = f"{platform.urls['supervision']}/api/v1/projects/{code}/supervision"
        return httpx.get(url, headers=OPS, timeout=10).status_code == 200

    eventually_sync(projected, timeout_s=30, what=f"{code} known to supervision")


def report(platform: Platform, credit: str, code: str, **fields: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{platform.urls['supervision']}/api/v1/projects/{code}/reports",
        json=fields,
        headers=auth_headers("enterprise", credit_code=credit),
        timeout=10,
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def start_and_complete(platform: Platform, credit: str, code: str) -> None:
    """Construction starts and is done the same day: no construction rule runs afterwards."""
    day = str(today(platform))
    report(platform, credit, code, kind="start", report_date=day)
    report(platform, credit, code, kind="completion", report_date=day, progress_percent=100)


def alerts(platform: Platform, code: str, kind: str | None = None) -> list[dict[str, Any]]:
    params = {"project_code": code, "limit": 100} | ({"kind": kind} if kind else {})
    items: list[dict[str, Any]] = supervision(platform, "/api/v1/alerts", **params)["items"]
    return items


def wait_alert(platform: Platform, code: str, kind: str, state: str) -> dict[str, Any]:
    """The project's one alert of `kind` once it is `state` (yellow, red or resolved)."""

    def reached() -> dict[str, Any] | None:
        items = alerts(platform, code, kind)
        assert len(items) <= 1, items  # one alert per project and kind
        if not items:
            return None
        alert = items[0]
        done = alert["resolved_at"] is not None
        return alert if (done if state == "resolved" else alert["level"] == state) else None

    found: dict[str, Any] = eventually_sync(reached, timeout_s=60, what=f"{kind} {state} on {code}")
    return found


def credit_records(platform: Platform, credit: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = supervision(platform, f"/api/v1/enterprises/{credit}/credit")[
        "records"
    ]
    return records


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- what was published ----------------------------------------------------------------------


def distinct(events: list[CloudEvent]) -> list[CloudEvent]:
    """One of each event id: the outbox may publish a row again after a crash (same id)."""
    return list({event.id: event for event in events}.values())


def transitions(events: list[CloudEvent], alert_id: str) -> list[tuple[str, str]]:
    """(type, level) of each distinct event about one alert, in the order published."""
    return [
        (str(e.type), e.data["level"])
        for e in distinct(events)
        if e.type in ALERT_EVENTS and e.data["alert_id"] == alert_id
    ]


def published(platform: Platform, report_id: str) -> bool:
    """Whether a report's event is on the topic within a second (for the log only)."""
    with TopicReader(platform.bootstrap, SUPERVISION_REPORTS) as reader:
        try:
            reader.read_until(
                lambda events: any(e.data.get("report_id") == report_id for e in events),
                timeout_s=1,
            )
        except AssertionError:
            return False
    return True
