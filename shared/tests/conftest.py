"""Top-level conftest of the shared library's test run: fixtures for real broker and database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.broker import ensure_topics
from shared.db import SessionFactory, make_engine, make_session_factory
from shared.migrations import create_platform_tables_in


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


@pytest.fixture
async def shared_db(database_factory: Callable[[str], str]) -> AsyncIterator[SharedDB]:
    """A fresh database (SQLite, or PostgreSQL when APPROVAL_DATABASE_URL names one)."""
    url = database_factory("approval")
    create_platform_tables_in(url)
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
