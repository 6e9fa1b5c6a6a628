"""Pytest fixtures for tests against the real broker and real databases.

Enabled by the root conftest (``pytest_plugins = ["testkit.fixtures"]``). The broker is the
embedded one of the local runner (or the cluster in KAFKA_BOOTSTRAP_SERVERS), with every
platform topic created; databases are fresh SQLite files, or fresh PostgreSQL databases created
next to the one named in ``<SERVICE>_DATABASE_URL`` and dropped after the test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services.broker import EmbeddedBroker
from shared.broker import ensure_topics
from shared.topics import all_topics
from testkit.databases import create_database
from testkit.databases import unique_group as _unique_group
from testkit.regions import unique_region

TEST_PARTITIONS = 3


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """host:port of a broker with every platform topic (TEST_PARTITIONS partitions each)."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        ensure_topics(external, all_topics(), TEST_PARTITIONS)
        yield external
        return
    with EmbeddedBroker(port=0) as broker:
        ensure_topics(broker.bootstrap, all_topics(), TEST_PARTITIONS)
        yield broker.bootstrap


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


@pytest.fixture
def unique_group() -> Callable[..., str]:
    """Call (optionally with a prefix) for a consumer group no earlier test used."""
    return _unique_group


@pytest.fixture
def region_code() -> str:
    """A GB/T 2260 region no other test of this run submits projects in."""
    return unique_region()
