"""The platform tables every service's initial migration creates through one shared helper."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations

from shared.db import SHARED_TABLES, sync_url, use_wal
from shared.migrations import create_platform_tables, drop_platform_tables, upgrade

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


def _journal_mode(path: Path) -> str:
    with closing(sqlite3.connect(path)) as conn:
        mode: str = conn.execute("PRAGMA journal_mode").fetchone()[0]
        return mode


def test_a_migrated_sqlite_file_is_in_wal_mode_before_a_service_opens_it(
    tmp_path: Path,
) -> None:
    # A service opens several connections at start; had the file still to be switched to
    # WAL, one of them could fail with "database is locked" (seen in CI).
    scripts = tmp_path / "migrations"
    (scripts / "versions").mkdir(parents=True)
    (scripts / "env.py").write_text(
        "from sqlalchemy import MetaData\nfrom shared.migrations import run_env\n"
        "run_env(MetaData())\n"
    )
    database = tmp_path / "service.db"

    upgrade(scripts, f"sqlite:///{database}")

    assert _journal_mode(database) == "wal"


def test_use_wal_switches_a_sqlite_file_and_leaves_other_databases_alone(
    tmp_path: Path,
) -> None:
    database = tmp_path / "made-elsewhere.db"
    sqlite3.connect(database).close()
    assert _journal_mode(database) == "delete"

    use_wal(f"sqlite+aiosqlite:///{database}")

    assert _journal_mode(database) == "wal"
    # Not SQLite: nothing to do, so not even a connection (nothing listens on port 9).
    use_wal("postgresql://nobody@127.0.0.1:9/none")
