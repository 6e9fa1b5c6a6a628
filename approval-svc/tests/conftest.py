"""Fixtures of the approval service's tests (integration ones use the real broker and DB)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from kafka import KafkaConsumer, KafkaProducer

import approval_svc
from approval_svc.app import create_app
from shared.auth import mint_token
from shared.clock import Clock
from shared.migrations import upgrade
from shared.settings import get_approval_settings
from testkit import unique_group

SECRET = "approval-test-secret-0123456789abcdef"
MIGRATIONS = Path(approval_svc.__file__).parent / "migrations"
CREDIT_A = "91440300708461136T"


def _valid_credit_code(base17: str) -> str:
    from stdnum.cn import uscc

    return base17 + uscc.calc_check_digit(base17)


CREDIT_B = _valid_credit_code("91110108551385082")


def token(role: str, **claims: Any) -> str:
    return mint_token(SECRET, sub=f"test-{role}", role=role, **claims)


def auth(role: str, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, **claims)}"}


ENTERPRISE_A = auth("enterprise", credit_code=CREDIT_A)
ENTERPRISE_B = auth("enterprise", credit_code=CREDIT_B)
OPS = auth("ops")


def dept(code: str) -> dict[str, str]:
    return auth("department", department=code)


def project_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Riverside logistics park",
        "region_code": "440300",
        "industry_code": "G5411",
        "procedure": "verification",
        "total_investment": "250000000.00",
        "location": "Shenzhen, Bao'an district",
        "planned_start": "2027-04-01",
        "description": "Warehousing and a rail spur",
        "eia_category": "report",
        "building_area_m2": 12000,
    }
    body.update(overrides)
    return body


@dataclass
class Service:
    app: FastAPI
    client: httpx.AsyncClient
    database_url: str
    bootstrap: str


@pytest.fixture
def approval_factory(
    kafka_bootstrap: str, database_factory: Callable[[str], str]
) -> Callable[..., Any]:
    """Build (and migrate the database of) an approval app; use as an async context."""

    def build(*, clock: Clock | None = None, **settings: Any) -> FastAPI:
        url = settings.pop("database_url", None) or database_factory("approval")
        upgrade(MIGRATIONS, url)
        config = get_approval_settings(
            database_url=url,
            kafka_bootstrap_servers=kafka_bootstrap,
            jwt_secret=SECRET,
            consumer_group=unique_group("approval-test"),
            **settings,
        )
        app = create_app(config, clock=clock)
        app.state.database_url = url
        return app

    return build


@pytest.fixture
async def service(
    approval_factory: Callable[..., FastAPI], kafka_bootstrap: str
) -> AsyncIterator[Service]:
    app = approval_factory()
    async with (
        LifespanManager(app, startup_timeout=30, shutdown_timeout=60),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://approval"
        ) as client,
    ):
        yield Service(app, client, app.state.database_url, kafka_bootstrap)


@pytest.fixture
def producer(kafka_bootstrap: str) -> Iterator[KafkaProducer]:
    p = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    yield p
    p.close()


async def read_topic(
    bootstrap: str, topic: str, *, until: Callable[[list[Any]], bool], timeout_s: float = 30
) -> list[Any]:
    """Consume a topic from the beginning until `until(records)` holds (or time runs out).

    Runs in a thread: the service under test shares this event loop and must keep running.
    """
    import asyncio

    return await asyncio.to_thread(_read_topic, bootstrap, topic, until, timeout_s)


def _read_topic(
    bootstrap: str, topic: str, until: Callable[[list[Any]], bool], timeout_s: float
) -> list[Any]:
    import time

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=500,
    )
    records: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            for partition_records in consumer.poll(timeout_ms=500).values():
                records.extend(partition_records)
            if until(records):
                break
    finally:
        consumer.close()
    return records


def events_of(records: list[Any], project: dict[str, Any]) -> list[dict[str, Any]]:
    """The events of this very project: codes restart in each test's fresh database while the
    broker's topics outlive tests, so the key alone could match an earlier test's project."""
    code = project["project_code"]
    task_ids = {t["task_id"] for t in project["tasks"]}
    events = [json.loads(r.value) for r in records if r.key == code.encode()]
    return [
        e
        for e in events
        if e["data"].get("task_id") in task_ids
        or e["data"].get("submitted_at") == project["submitted_at"]
    ]
