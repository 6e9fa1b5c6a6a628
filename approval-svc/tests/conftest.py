"""Fixtures of the approval service's tests (integration ones use the real broker and DB)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from stdnum.cn import uscc

import approval_svc
from approval_svc.app import create_app
from approval_svc.settings import get_approval_settings
from shared.clock import Clock
from shared.migrations import upgrade
from testkit import TEST_JWT_SECRET, auth_headers, unique_group

SECRET = TEST_JWT_SECRET
MIGRATIONS = Path(approval_svc.__file__).parent / "migrations"
CREDIT_A = "91440300708461136T"
CREDIT_B = "91110108551385082" + uscc.calc_check_digit("91110108551385082")

ENTERPRISE_A = auth_headers("enterprise", credit_code=CREDIT_A)
ENTERPRISE_B = auth_headers("enterprise", credit_code=CREDIT_B)
OPS = auth_headers("ops")


def unique_credit_code() -> str:
    """A valid credit code of its own per call: credit events on the shared topic of one test
    never concern another test's enterprise."""
    base = "91440300" + uuid.uuid4().hex[:9].upper()  # hex: only characters USCC allows
    return base + uscc.calc_check_digit(base)


def dept(code: str) -> dict[str, str]:
    return auth_headers("department", department=code)


def project_body(region: str, /, **overrides: Any) -> dict[str, Any]:
    """A verification project needing NDRC, MEE and MOHURD, in the test's own region (so its
    project codes, hence its event keys, are the test's own)."""
    body: dict[str, Any] = {
        "name": "Riverside logistics park",
        "region_code": region,
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
    region: str  # this test's region: every project it submits has its own codes

    def body(self, **overrides: Any) -> dict[str, Any]:
        return project_body(self.region, **overrides)


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
    approval_factory: Callable[..., FastAPI], kafka_bootstrap: str, region_code: str
) -> AsyncIterator[Service]:
    app = approval_factory()
    async with (
        LifespanManager(app, startup_timeout=30, shutdown_timeout=60),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://approval"
        ) as client,
    ):
        yield Service(app, client, app.state.database_url, kafka_bootstrap, region_code)
