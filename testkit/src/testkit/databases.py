"""Fresh databases for tests: a SQLite file, or a PostgreSQL database created and dropped.

PostgreSQL is used for `service` when ``<SERVICE>_DATABASE_URL`` names a PostgreSQL server: the
new database is created next to the one named there (same server and credentials).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url


def _admin_dsn(url: str) -> str:
    parsed = make_url(url).set(drivername="postgresql", database="postgres")
    return parsed.render_as_string(hide_password=False)


def create_database(service: str, directory: Path) -> tuple[str, Callable[[], None]]:
    """A new empty database for `service` and a function that removes it.

    SQLite files go into `directory` (removed with it; the function then does nothing).
    """
    base = os.environ.get(f"{service.upper()}_DATABASE_URL")
    if not base or make_url(base).get_backend_name() != "postgresql":
        path = directory / f"{service}-{uuid.uuid4().hex[:8]}.db"
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


def unique_group(prefix: str = "test") -> str:
    """A consumer group no earlier test used, so each test starts its own offsets."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
