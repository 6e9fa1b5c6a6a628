"""Top-level conftest of the shared library's test run: fixtures for real broker and database."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
import sqlalchemy
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from shared.broker import ensure_topics
from shared.db import SHARED_TABLES, SessionFactory, make_engine, make_session_factory, sync_url


def pytest_configure(config: pytest.Config) -> None:
    # Third-party noise, not what we test: fastapi.testclient still uses starlette's httpx
    # client; kafka-python's admin client reads its resources with the legacy importlib API.
    for spec in (
        "ignore:Using `httpx` with `starlette.testclient`:UserWarning",
        "ignore:(open|read)_text is deprecated:DeprecationWarning",
    ):
        config.addinivalue_line("filterwarnings", spec)


@dataclass
class SharedDB:
    url: str
    engine: AsyncEngine
    sessions: SessionFactory

    @property
    def backend(self) -> str:
        return self.engine.dialect.name


def create_shared_tables(url: str) -> None:
    """Only the shared tables (outbox, processed_events, outbox_lease), on a sync engine."""
    engine = sqlalchemy.create_engine(sync_url(url))
    try:
        SQLModel.metadata.create_all(engine, tables=[m.__table__ for m in SHARED_TABLES])
    finally:
        engine.dispose()


@pytest.fixture
async def shared_db(database_factory: Callable[[str], str]) -> AsyncIterator[SharedDB]:
    """A fresh database (SQLite, or PostgreSQL when APPROVAL_DATABASE_URL names one)."""
    url = database_factory("approval")
    create_shared_tables(url)
    engine = make_engine(url)
    try:
        yield SharedDB(url=url, engine=engine, sessions=make_session_factory(engine))
    finally:
        await engine.dispose()


@pytest.fixture
def fresh_topic(kafka_bootstrap: str) -> Callable[..., str]:
    """Create a topic no other test uses (1 partition by default: one total order)."""

    def make(prefix: str = "shared.test", partitions: int = 1) -> str:
        name = f"{prefix}.{uuid.uuid4().hex[:10]}"
        ensure_topics(kafka_bootstrap, [name], partitions)
        return name

    return make


def read_topic(bootstrap: str, topic: str, expected: int, timeout_s: float = 15.0) -> list:
    """Every record of `topic` from the beginning, once at least `expected` have arrived."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=500,
    )
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        deadline = time.monotonic() + timeout_s
        while not partitions and time.monotonic() < deadline:
            time.sleep(0.1)
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records: list = []
        while len(records) < expected and time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=200)
            for tp in sorted(batch, key=lambda t: t.partition):
                records.extend(batch[tp])
        return records
    finally:
        consumer.close()


@pytest.fixture
def topic_reader(kafka_bootstrap: str) -> Callable[..., object]:
    async def read(topic: str, expected: int, *, bootstrap: str | None = None, timeout_s=15.0):
        return await asyncio.to_thread(
            read_topic, bootstrap or kafka_bootstrap, topic, expected, timeout_s
        )

    return read
