"""Alembic, driven from code: each service keeps its own migration scripts and calls these."""

from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, engine_from_config, pool

from shared.db import ensure_sqlite_dir, sync_url


def alembic_config(script_location: Path, url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    # ConfigParser interpolation would eat '%' in passwords.
    cfg.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return cfg


def upgrade(script_location: Path, url: str, revision: str = "head") -> None:
    ensure_sqlite_dir(url)
    command.upgrade(alembic_config(script_location, url), revision)


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
