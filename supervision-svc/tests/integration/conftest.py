"""Integration fixtures: the real supervision app on a fresh database and the real broker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from shared.clock import Clock
from shared.migrations import upgrade
from supervision_svc.app import create_app
from supervision_svc.settings import get_supervision_settings
from testkit import TEST_JWT_SECRET, aproduce_events, unique_group

from supervision_it import MIGRATIONS


@pytest.fixture
def publish(kafka_bootstrap: str) -> Callable[..., Any]:
    """`await publish(topic, *events, key=...)`: produced and acknowledged by the broker."""

    async def send(topic: str, *events: Any, **kwargs: Any) -> None:
        await aproduce_events(kafka_bootstrap, topic, events, **kwargs)

    return send


@pytest.fixture
def database_url(database_factory: Callable[[str], str]) -> str:
    url = database_factory("supervision")
    upgrade(MIGRATIONS, url)
    return url


AppFactory = Callable[..., Any]


@pytest.fixture
def running_app(kafka_bootstrap: str, database_url: str) -> AppFactory:
    """`async with running_app(clock=...) as client:` the real app, lifespan and all."""

    @asynccontextmanager
    async def run(clock: Clock | None = None, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        settings = get_supervision_settings(
            database_url=database_url,
            kafka_bootstrap_servers=kafka_bootstrap,
            consumer_group=unique_group("supervision-test"),
            jwt_secret=TEST_JWT_SECRET,
            outbox_poll_interval_s=0.1,
            log_json=False,
            **overrides,
        )
        app = create_app(settings, clock=clock)
        async with (
            LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=manager.app), base_url="http://supervision"
            ) as client,
        ):
            yield client

    return run
