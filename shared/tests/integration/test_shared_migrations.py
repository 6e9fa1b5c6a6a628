"""The platform tables every service's initial migration creates through one shared helper."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations

from shared.db import SHARED_TABLES, sync_url
from shared.migrations import create_platform_tables, drop_platform_tables

pytestmark = pytest.mark.integration


def _run(engine: sa.Engine, step: Callable[[Operations], None]) -> None:
    with engine.begin() as conn:
        step(Operations(MigrationContext.configure(conn)))


def test_the_helper_creates_exactly_the_tables_the_models_describe(
    database_factory: Callable[[str], str],
) -> None:
    engine = sa.create_engine(sync_url(database_factory("approval")))
    try:
        _run(engine, create_platform_tables)

        models = sa.MetaData()
        for model in SHARED_TABLES:
            model.__table__.to_metadata(models)  # type: ignore[attr-defined]  # SQLModel table
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, models) == []
        assert sorted(sa.inspect(engine).get_table_names()) == [
            "outbox",
            "outbox_lease",
            "processed_events",
        ]

        _run(engine, drop_platform_tables)

        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
