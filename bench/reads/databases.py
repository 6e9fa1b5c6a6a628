"""Fresh databases for the read benchmark: one per service, SQLite or PostgreSQL."""

from __future__ import annotations

import contextlib
import signal
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType

import psycopg

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_MAINTENANCE_DB = "test"


@contextlib.contextmanager
def postgres_databases(prefix: str, services: Sequence[str]) -> Iterator[dict[str, str]]:
    """New empty PostgreSQL databases `<prefix>_<random>_<service>` on `PG_SERVER`, dropped
    (WITH (FORCE)) when the block ends, however it ends."""
    tag = uuid.uuid4().hex[:10]
    names = {service: f"{prefix}_{tag}_{service}" for service in services}
    created: list[str] = []
    admin = f"{PG_SERVER}/{PG_MAINTENANCE_DB}"
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in names.values():
                conn.execute(f'CREATE DATABASE "{name}"')
                created.append(name)
        print(f"created PostgreSQL databases {', '.join(created)}", flush=True)
        yield {service: f"{PG_SERVER}/{name}" for service, name in names.items()}
    finally:
        if created:
            with psycopg.connect(admin, autocommit=True) as conn:
                for name in created:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            print(f"dropped PostgreSQL databases {', '.join(created)}", flush=True)


@contextlib.contextmanager
def fresh_databases(
    kind: str, services: Sequence[str], *, prefix: str = "bench_reads", workdir: Path | None = None
) -> Iterator[dict[str, str]]:
    """One empty database per service: SQLite files in a temporary folder (or `workdir`,
    kept), or PostgreSQL databases created for the run and dropped afterwards."""
    if kind == "postgres":
        with postgres_databases(prefix, services) as urls:
            yield urls
        return
    if kind != "sqlite":
        raise ValueError(f"--database is sqlite or postgres, not {kind!r}")
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        yield {service: f"sqlite:///{workdir}/{service}.db" for service in services}
        return
    with tempfile.TemporaryDirectory() as folder:
        yield {service: f"sqlite:///{folder}/{service}.db" for service in services}


def terminate_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so `finally` blocks (dropping databases) still run."""

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
