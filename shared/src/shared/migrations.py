"""Alembic, driven from code: each service keeps its own migration scripts and calls these."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import MetaData, engine_from_config, pool
from sqlmodel.sql.sqltypes import AutoString

from shared.db import UTCDateTime, ensure_sqlite_dir, sync_url, use_wal


def alembic_config(script_location: Path, url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    # ConfigParser interpolation would eat '%' in passwords.
    cfg.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return cfg


def upgrade(script_location: Path, url: str, revision: str = "head") -> None:
    ensure_sqlite_dir(url)
    command.upgrade(alembic_config(script_location, url), revision)
    use_wal(url)


def downgrade(script_location: Path, url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(script_location, url), revision)


def revision(script_location: Path, url: str, message: str) -> None:
    """Autogenerate a new migration from the models (developers run this, then review it)."""
    ensure_sqlite_dir(url)
    command.revision(alembic_config(script_location, url), message=message, autogenerate=True)


def run_env(target_metadata: MetaData) -> None:
    """Body of each service's `env.py` (online mode only: we always have a database)."""
    config = context.config
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            # SQLite cannot ALTER most things in place; batch mode copies the table.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


# --- the platform's own tables ----------------------------------------------------------
# Every service's database holds the same plumbing (`shared.db.SHARED_TABLES`): the outbox,
# the relay's lease and the ids of processed events. Each service's initial migration calls
# these instead of repeating the DDL. They describe the tables as that first revision made
# them: a later change to the tables gets a new function here and a new revision in each
# service, never an edit of these.


def create_platform_tables(op: Operations) -> None:
    """Create the outbox, the outbox relay's lease and the processed-event ids."""
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", AutoString(length=64), nullable=False),
        sa.Column("event_type", AutoString(length=128), nullable=False),
        sa.Column("topic", AutoString(length=255), nullable=False),
        sa.Column("message_key", AutoString(length=255), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_unsent", ["sent_at", "id"], unique=False)
    op.create_table(
        "outbox_lease",
        sa.Column("name", AutoString(length=64), nullable=False),
        sa.Column("owner", AutoString(length=128), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "processed_events",
        sa.Column("consumer", AutoString(length=128), nullable=False),
        sa.Column("event_id", AutoString(length=128), nullable=False),
        sa.Column("processed_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id"),
    )


def create_platform_tables_in(url: str) -> None:
    """The platform tables alone, in the database at `url`, as every service's first
    migration creates them: for tests and benchmarks of the plumbing, without a service."""
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            create_platform_tables(Operations(MigrationContext.configure(conn)))
    finally:
        engine.dispose()


def drop_platform_tables(op: Operations) -> None:
    """Undo `create_platform_tables`."""
    op.drop_table("processed_events")
    op.drop_table("outbox_lease")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_unsent")
    op.drop_table("outbox")
