"""The three services, each on a fresh database and the embedded broker, for hostile clients.

One app per service for the whole module: schemathesis starts an app's lifespan (outbox relay,
consumers) in its own event-loop thread and keeps it running; `asgi.shutdown_lifespans()`
stops them all when the module is done.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from schemathesis.python import asgi

import approval_svc
import notify_svc
import supervision_svc
from approval_svc.app import create_app as create_approval
from approval_svc.settings import get_approval_settings
from notify_svc.app import create_app as create_notify
from notify_svc.settings import get_notify_settings
from shared.migrations import upgrade
from shared.settings import ServiceSettings
from supervision_svc.app import create_app as create_supervision
from supervision_svc.settings import get_supervision_settings
from testkit import TEST_JWT_SECRET
from testkit.databases import create_database, unique_group


def _service_app(
    name: str,
    package: Any,
    build_settings: Callable[..., ServiceSettings],
    create: Callable[[Any], FastAPI],
    kafka_bootstrap: str,
    directory: Path,
) -> Iterator[FastAPI]:
    url, drop = create_database(name, directory)
    upgrade(Path(package.__file__).parent / "migrations", url)
    group = unique_group(f"fuzz-{name}")
    config = build_settings(
        database_url=url,
        kafka_bootstrap_servers=kafka_bootstrap,
        consumer_group=group,
        jwt_secret=TEST_JWT_SECRET,
        data_dir=directory,
        log_json=False,
    )
    app = create(config)
    try:
        yield app
    finally:
        asgi.shutdown_lifespans()
        drop()
        shutil.rmtree(Path(f"{group}-data"), ignore_errors=True)  # faust's local state


@pytest.fixture(scope="module")
def approval_app(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FastAPI]:
    yield from _service_app(
        "approval",
        approval_svc,
        get_approval_settings,
        create_approval,
        kafka_bootstrap,
        tmp_path_factory.mktemp("approval"),
    )


@pytest.fixture(scope="module")
def supervision_app(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FastAPI]:
    yield from _service_app(
        "supervision",
        supervision_svc,
        get_supervision_settings,
        create_supervision,
        kafka_bootstrap,
        tmp_path_factory.mktemp("supervision"),
    )


@pytest.fixture(scope="module")
def notify_app(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    yield from _service_app(
        "notify",
        notify_svc,
        get_notify_settings,
        create_notify,
        kafka_bootstrap,
        tmp_path_factory.mktemp("notify"),
    )


APP_FIXTURES = {
    "approval": "approval_app",
    "supervision": "supervision_app",
    "notify": "notify_app",
}


@pytest.fixture(params=list(APP_FIXTURES))
def service_app(request: pytest.FixtureRequest) -> tuple[str, FastAPI]:
    name = str(request.param)
    return name, request.getfixturevalue(APP_FIXTURES[name])


@pytest.fixture
def client_of() -> Callable[[FastAPI], asgi.ASGIClient]:
    """A blocking client of an app whose lifespan runs in schemathesis' loop thread."""

    def make(app: FastAPI) -> asgi.ASGIClient:
        return asgi.get_client(app).__enter__()

    return make
