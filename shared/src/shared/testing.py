"""Pytest fixtures for integration tests against the real broker and real databases.

Enabled by the root conftest (`pytest_plugins = ["shared.testing"]`). The broker is the embedded
one (or the cluster in KAFKA_BOOTSTRAP_SERVERS); databases are fresh SQLite files, or fresh
PostgreSQL databases created next to the one named in `<SERVICE>_DATABASE_URL` and dropped after.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from shared.broker import EmbeddedBroker, ensure_topics
from shared.topics import all_topics

TEST_PARTITIONS = 3


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        ensure_topics(external, all_topics(), TEST_PARTITIONS)
        yield external
        return
    with EmbeddedBroker(port=0) as broker:
        ensure_topics(broker.bootstrap, all_topics(), TEST_PARTITIONS)
        yield broker.bootstrap


def _admin_dsn(url: str) -> str:
    parsed = make_url(url).set(drivername="postgresql", database="postgres")
    return parsed.render_as_string(hide_password=False)


def create_database(service: str, tmp_path: Path) -> tuple[str, Callable[[], None]]:
    """A new empty database for `service` and a function that removes it."""
    base = os.environ.get(f"{service.upper()}_DATABASE_URL")
    if not base or make_url(base).get_backend_name() != "postgresql":
        path = tmp_path / f"{service}-{uuid.uuid4().hex[:8]}.db"
        return f"sqlite:///{path}", lambda: None
    name = f"t_{service}_{uuid.uuid4().hex[:10]}"
    admin = _admin_dsn(base)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    return url, drop


@pytest.fixture
def database_factory(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Call with a service name ('approval', ...) to get a fresh database URL."""
    drops: list[Callable[[], None]] = []

    def make(service: str) -> str:
        url, drop = create_database(service, tmp_path)
        drops.append(drop)
        return url

    yield make
    for drop in drops:
        drop()


def unique_group(prefix: str) -> str:
    """A consumer group no earlier test used, so each test starts its own offsets."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
