"""Database plumbing: engines for SQLite or PostgreSQL, exact column types, shared tables.

Each service owns its database; the outbox and processed-event tables below live in each of
them (created by each service's own migrations).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Column,
    CursorResult,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    Result,
    String,
    Table,
    event,
    inspect,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.types import Numeric, TypeDecorator
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from shared import jsontext, sqlite_driver
from shared.pool import FairAsyncQueuePool


def rowcount(result: Result[Any]) -> int:
    """Rows matched by an UPDATE/DELETE (`Session.execute` types its result as the generic one)."""
    return cast("CursorResult[Any]", result).rowcount


def table_of(model: type[SQLModel]) -> Table:
    """The `Table` of a table model (its metaclass sets it; the declared type does not show it)."""
    return cast(Table, inspect(model).local_table)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every database (SQLite keeps no zone; we restore it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware one is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        # On SQLite, the text SQLAlchemy's DATETIME writes by default, made by `isoformat`:
        # its own formatter (a %-format over a dict of seven fields, after this type's
        # conversion) was 2-4 % of each service's CPU under load. The same text byte for
        # byte, so stored rows, comparisons and their order are unchanged.
        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is not UTC:  # refused if naive, else converted (made naive)
                value = cast(datetime, self.process_bind_param(value, dialect))
            return value.isoformat(" ", "microseconds")[:26]  # without a "+00:00"

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ExactDecimal(TypeDecorator[Decimal]):
    """Money and measures stored exactly: NUMERIC on PostgreSQL, text on SQLite (no floats)."""

    impl = String(64)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(28, 6, asdecimal=True))
        return dialect.type_descriptor(String(64))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, float):
            value = Decimal(str(value))  # the float's shortest repr, not its binary error
        value = Decimal(value)
        return value if dialect.name == "postgresql" else format(value, "f")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


def utc_column(*, nullable: bool = False, index: bool = False) -> Any:
    return Column(UTCDateTime(), nullable=nullable, index=index)


def decimal_column(*, nullable: bool = True) -> Any:
    return Column(ExactDecimal(), nullable=nullable)


# --- shared tables -----------------------------------------------------------------------


class OutboxMessage(SQLModel, table=True):
    """An event committed with the state change that caused it, waiting to be published."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_unsent", "sent_at", "id"),)

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    event_id: str = Field(max_length=64)
    event_type: str = Field(max_length=128)
    topic: str = Field(max_length=255)
    message_key: str | None = Field(default=None, max_length=255)
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(sa_column=utc_column())
    sent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class ProcessedEvent(SQLModel, table=True):
    """The id of every consumed event, recorded in the same transaction as its effect."""

    __tablename__ = "processed_events"

    consumer: str = Field(primary_key=True, max_length=128)
    event_id: str = Field(primary_key=True, max_length=128)
    processed_at: datetime = Field(sa_column=utc_column())


class RelayLease(SQLModel, table=True):
    """Which process publishes the outbox now: one relay at a time keeps per-key order."""

    __tablename__ = "outbox_lease"

    name: str = Field(primary_key=True, max_length=64)
    owner: str = Field(max_length=128)
    expires_at: datetime = Field(sa_column=utc_column())


SHARED_TABLES = (OutboxMessage, ProcessedEvent, RelayLease)


# --- engines -----------------------------------------------------------------------------


def sync_url(url: str) -> str:
    """The URL for synchronous tools (Alembic): psycopg."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if backend == "sqlite":
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    raise ValueError(
        f"unsupported database URL {parsed.render_as_string()}: use sqlite or postgresql"
    )


def async_url(url: str) -> str:
    """The URL the services' engines use: aiosqlite, or asyncpg on PostgreSQL.

    asyncpg rather than psycopg's async mode: on the same statements the services spent
    about a fifth less CPU per project at saturation (12.66 -> 10.36 ms, 122 -> 143 projects/s
    in `bench.approval` on PostgreSQL; figures in bench/README). A service's event loop runs
    its HTTP requests, consumers and relay together, so every statement's cost is a wait for
    the rest.
    """
    parsed = make_url(sync_url(url))
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    query = dict(parsed.query)
    if "sslmode" in query:
        # libpq's name, which the URL of a deployment may use (Alembic's psycopg takes it);
        # asyncpg takes the same modes as `ssl`.
        query["ssl"] = query.pop("sslmode")
    parsed = parsed.set(drivername="postgresql+asyncpg", query=query)
    return parsed.render_as_string(hide_password=False)


def _sqlite_file(url: str) -> str | None:
    """The file of a SQLite URL; None for another database or an in-memory one."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return parsed.database
    return None


def ensure_sqlite_dir(url: str) -> None:
    if (path := _sqlite_file(url)) is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def use_wal(url: str) -> None:
    """Put a SQLite database file in WAL mode; the mode is stored in the file, so it stays.

    Done once, after the migrations and before a service opens the file. A file still in
    rollback-journal mode is switched by the first connection that asks, which needs the file
    to itself; a service opens several connections at start, and one that asked meanwhile
    failed with "database is locked" without waiting (SQLite's answer to two connections
    that each hold a read lock and want the exclusive one).
    """
    if (path := _sqlite_file(url)) is None:
        return
    with closing(sqlite3.connect(path, timeout=30)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")


def _sqlite_pragmas(engine: AsyncEngine, *, writer: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _: Any) -> None:
        # Let SQLAlchemy, not the driver, control transactions so SAVEPOINTs work.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # The wait for locks first, so that the pragmas below wait too.
        cursor.execute("PRAGMA busy_timeout=30000")
        # A no-op on a migrated file (`use_wal`); a file made some other way is switched here.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        if not writer:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # The writer takes the write lock up front (IMMEDIATE): another process writing the
        # same file then queues on busy_timeout instead of failing on a lock upgrade. Readers
        # begin deferred and read a WAL snapshot without blocking anyone.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


def insert_with_conflict(dialect: str) -> Any:
    """The dialect's `insert` (PostgreSQL's or SQLite's): both have ON CONFLICT DO NOTHING /
    DO UPDATE, and RETURNING."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


# JSON columns written and read by orjson (`shared.jsontext`): the same values, less CPU.
_JSON_CODEC: dict[str, Any] = {
    "json_serializer": jsontext.column_text,
    "json_deserializer": jsontext.column_value,
}


def make_engine(
    url: str,
    *,
    echo: bool = False,
    pool_size: int = 10,
    pg_settings: dict[str, str] | None = None,
) -> AsyncEngine:
    """The engine for transactions that write.

    SQLite allows one writer at a time, so the pool holds ONE connection: concurrent
    requests queue in the pool (cheap, first come first served: `FairAsyncQueuePool`) instead
    of spinning in SQLite's busy handler on many connections, which starved writers and ended
    in "database is locked".
    """
    ensure_sqlite_dir(url)
    target = async_url(url)
    if is_sqlite(target):
        engine = create_async_engine(
            target,
            echo=echo,
            module=sqlite_driver.dbapi(),
            poolclass=FairAsyncQueuePool,
            pool_size=1,
            **_JSON_CODEC,
            max_overflow=0,
            pool_timeout=120,
        )
        _sqlite_pragmas(engine, writer=True)
        return engine
    return create_async_engine(
        target,
        echo=echo,
        poolclass=FairAsyncQueuePool,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        **_JSON_CODEC,
        # Settings of each connection's session on the server (PostgreSQL's `SET name=value`).
        connect_args={"server_settings": pg_settings} if pg_settings else {},
    )


def make_read_engine(url: str, writer: AsyncEngine, *, pool_size: int = 4) -> AsyncEngine:
    """The engine for read-only queries: on SQLite separate query-only connections (WAL lets
    them read while the writer writes); elsewhere the writer's engine serves both."""
    target = async_url(url)
    if not is_sqlite(target):
        return writer
    engine = create_async_engine(
        target,
        module=sqlite_driver.dbapi(),
        poolclass=FairAsyncQueuePool,
        pool_size=pool_size,
        max_overflow=0,
        **_JSON_CODEC,
        pool_timeout=120,
    )
    _sqlite_pragmas(engine, writer=False)
    return engine


def make_relay_engine(url: str, writer: AsyncEngine) -> AsyncEngine:
    """The engine of the outbox relay: the writer's on SQLite (one writer connection); on
    PostgreSQL a connection of its own, on which the planner takes no bitmap scans.

    The relay reads the outbox as a queue: the oldest unsent rows, then marks them sent.
    Marking a row sent writes a new row version and a new entry in the unsent index; the old
    entry stays until a vacuum. A bitmap scan of that index visits every such entry again on
    every round, so each read grew with the rows sent since the last vacuum (the planner
    prefers one for the few rows it expects). A plain index scan marks those entries dead
    the first time it meets them and skips them after: each read stays as cheap as its
    batch. The service's other connections keep the planner's full choice.
    """
    if is_sqlite(async_url(url)):
        return writer
    # One round at a time; the overflow connection serves a failure's backlog count.
    return make_engine(url, pool_size=1, pg_settings={"enable_bitmapscan": "off"})


SessionFactory = async_sessionmaker[AsyncSession]


def make_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


@asynccontextmanager
async def session_scope(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    async with factory() as session:
        yield session


async def ping(engine: AsyncEngine) -> None:
    """Raise if the database cannot answer a trivial query."""
    async with engine.connect() as conn:
        await conn.exec_driver_sql("SELECT 1")
