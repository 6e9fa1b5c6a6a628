"""Transactional outbox: state changes and the events they cause commit together.

`UnitOfWork` collects events into the `outbox` table inside the caller's transaction, together
with the rows the caller adds; everything commits at once. `shared.relay.OutboxRelay` then
publishes the committed rows (at-least-once: consumers drop redeliveries by event id).
"""

from __future__ import annotations

import abc
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Protocol, Self

from sqlalchemy import Table, insert
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import OutboxMessage, SessionFactory, insert_with_conflict, table_of, utcnow
from shared.events import CloudEvent

log = logging.getLogger(__name__)

INSERT = "insert"
IGNORE = "ignore"
_How = str | tuple[str, ...]


# The statements a flush runs are built once per table and shape, not per transaction:
# building an upsert (its conflict clause, its SET expressions) cost more than running it for
# the few rows a transaction writes. Tables, dialects and column sets are few and fixed.
@functools.lru_cache(maxsize=512)
def _row_statement(table: Table, dialect: str, *, ignore: bool) -> Any:
    if not ignore:
        return insert(table)
    return insert_with_conflict(dialect)(table).on_conflict_do_nothing()


@functools.lru_cache(maxsize=512)
def _counter_statement(
    table: Table, dialect: str, keys: tuple[str, ...], columns: tuple[str, ...]
) -> Any:
    stmt = insert_with_conflict(dialect)(table)
    return stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={c: table.c[c] + stmt.excluded[c] for c in columns if c not in keys},
    )


class UnitOfWork:
    """One database transaction plus the events it emits.

    Emitted events are buffered and written with one executemany just before the commit (an
    ORM object per event would cost more than the rest of a request). `on_commit` is called
    after every successful commit; `on_events` after one that wrote outbox rows (the relay's
    wake-up), so events leave within milliseconds.
    """

    def __init__(
        self,
        session_factory: SessionFactory,
        *,
        on_commit: Callable[[], None] | None = None,
        on_events: Callable[[], None] | None = None,
    ) -> None:
        self._factory = session_factory
        self._on_commit = on_commit
        # Only commits that wrote events wake the relay: most commits of a projection write
        # none, and each wake-up cost the relay a transaction that found nothing to send.
        self._on_events = on_events
        self._wrote_events = False
        self._session: AsyncSession | None = None
        # Rows to write at commit: (model, how, row), in the order added; `how` is
        # INSERT, IGNORE (skip a row whose key is there) or a tuple of key columns (add the
        # row's other columns to the stored counter row with that key, see `accumulate`).
        self._rows: list[tuple[Any, _How, dict[str, Any]]] = []
        self._callbacks: list[Callable[[], None]] = []
        # (key, write): a write queued under a key is queued once (see `before_flush`).
        self._before_flush: list[tuple[object | None, Callable[[], Awaitable[None]]]] = []
        self.emitted: list[CloudEvent] = []
        # What the use cases of one consumer batch share for the rest of the transaction (the
        # rows they read and locked, changes not yet written): see `shared`.
        self._shared: dict[str, Any] | None = None

    @property
    def shared(self) -> dict[str, Any] | None:
        """State the handlers of one consumer batch share, or None: each starts afresh.

        A consumer batch sets it (``share()``) while its events run in one transaction, so a
        project read, locked and changed by one event is the starting point of the next event
        and the writes are made once, at commit. It is None where a savepoint may undo an
        event's work (the event-by-event retry after a failure): shared state would outlive
        what the database took back.
        """
        return self._shared

    def share(self, enabled: bool = True) -> None:
        self._shared = {} if enabled else None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("UnitOfWork used outside `async with`")
        return self._session

    async def __aenter__(self) -> UnitOfWork:
        self._session = self._factory()
        self._wrote_events = False
        self._rows = []
        self._callbacks = []
        self._before_flush = []
        self._shared = None
        self.emitted = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._session is not None
        try:
            if exc_type is not None:
                await self._session.rollback()
        finally:
            self._rows = []
            self._callbacks = []
            self._before_flush = []
            self._shared = None
            await self._session.close()
            self._session = None

    def emit(self, event: CloudEvent, topic: str, *, key: str | None = None) -> None:
        """Queue `event` for `topic`; it is published only if the transaction commits."""
        self._require_open()
        self._rows.append(
            (
                OutboxMessage,
                INSERT,
                {
                    "event_id": event.id,
                    "event_type": event.type,
                    "topic": topic,
                    "message_key": key if key is not None else event.subject,
                    "payload": event.to_json(),
                    "created_at": utcnow(),
                },
            )
        )
        self.emitted.append(event)

    def emit_raw(self, *, topic: str, key: str | None, payload: bytes, event_type: str) -> None:
        """Queue a message that is not one of our events (a dead letter)."""
        self._require_open()
        self._rows.append(
            (
                OutboxMessage,
                INSERT,
                {
                    "event_id": str(uuid.uuid4()),
                    "event_type": event_type,
                    "topic": topic,
                    "message_key": key,
                    "payload": payload,
                    "created_at": utcnow(),
                },
            )
        )

    def add_row(self, model: Any, row: dict[str, Any], *, ignore_duplicates: bool = False) -> None:
        """Insert `row` into `model`'s table at commit (a cheap executemany, no ORM object).

        With `ignore_duplicates` a row whose key is already there is skipped (`INSERT ... ON
        CONFLICT DO NOTHING`): for rows with a natural key that a replay would write again.
        """
        self._require_open()
        self._rows.append((model, IGNORE if ignore_duplicates else INSERT, row))

    def accumulate(self, model: Any, key: dict[str, Any], deltas: dict[str, Any]) -> None:
        """Add `deltas` to the counter row of `model` with `key` at commit (created if absent).

        For counters that only ever move by deltas: the deltas of one transaction are summed
        per key and written with one upsert-adding executemany at commit, instead of one
        statement per change. Nothing may read those counters inside the same transaction.
        """
        self._require_open()
        self._rows.append((model, tuple(key), {**key, **deltas}))

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once this transaction has committed (dropped on rollback).

        For announcements that must not run for work that did not happen (a log line, a
        wake-up). A callback that raises is logged: it never undoes the committed work.
        """
        self._require_open()
        self._callbacks.append(callback)

    def before_flush(
        self, write: Callable[[], Awaitable[None]], *, key: object | None = None
    ) -> None:
        """Run `write` when the buffered rows are written, before them (once per flush).

        For changes a repository keeps in memory over many use cases of one transaction and
        writes once (see `shared`). Dropped on rollback (and by `forget_since`). With `key`,
        a write already queued under that key is not queued again: a repository may ask on
        every change, and is never left without a queued write after one was dropped.
        """
        self._require_open()
        if key is not None and any(queued is key for queued, _ in self._before_flush):
            return
        self._before_flush.append((key, write))

    def _require_open(self) -> None:
        if self._session is None:
            raise RuntimeError("UnitOfWork used outside `async with`")

    def mark(self) -> tuple[int, int, int]:
        """A point to return to when a savepoint is rolled back (see `forget_since`)."""
        return len(self._rows), len(self._callbacks), len(self._before_flush)

    def forget_since(self, mark: tuple[int, int, int]) -> None:
        """Drop what was emitted, added or scheduled after `mark`: its savepoint was rolled back."""
        rows, callbacks, writes = mark
        del self._rows[rows:]
        del self._callbacks[callbacks:]
        del self._before_flush[writes:]

    async def flush(self) -> None:
        """Write the buffered rows now: one executemany per table, in first-added order."""
        writes, self._before_flush = self._before_flush, []
        for _, write in writes:
            await write()
        if not self._rows:
            return
        pending, self._rows = self._rows, []
        by_table: dict[tuple[Any, _How], list[dict[str, Any]]] = {}
        for model, how, row in pending:
            by_table.setdefault((model, how), []).append(row)
        if (OutboxMessage, INSERT) in by_table:
            self._wrote_events = True
        for (model, how), rows in by_table.items():
            # Statements on the Table, not the model class: an INSERT of an ORM entity takes
            # the ORM's bulk path (instance states, ORM parameter handling), which was most of
            # what a submission's rows cost to write; Core gives the same rows for a fraction.
            table = model if isinstance(model, Table) else table_of(model)
            if isinstance(how, tuple):
                await self._add_to_counters(table, how, rows)
                continue
            stmt = _row_statement(table, self._dialect, ignore=how != INSERT)
            # One executemany per set of columns, of one cached statement (SQLite loops in C,
            # psycopg pipelines it); Core takes the columns of an executemany from its first
            # row, so rows that name other columns go in their own.
            by_columns: dict[frozenset[str], list[dict[str, Any]]] = {}
            for row in rows:
                by_columns.setdefault(frozenset(row), []).append(row)
            for same in by_columns.values():
                await self.session.execute(stmt, same)

    async def _add_to_counters(
        self, table: Table, keys: tuple[str, ...], rows: list[dict[str, Any]]
    ) -> None:
        summed: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in rows:
            at = tuple(row[k] for k in keys)
            total = summed.get(at)
            if total is None:
                summed[at] = dict(row)
            else:
                for column, delta in row.items():
                    if column not in keys:
                        total[column] = total.get(column, 0) + delta
        # One statement per set of columns (rows of one model usually share theirs); each key
        # appears once, as PostgreSQL refuses to update a row twice in one statement.
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in summed.values():
            by_columns.setdefault(tuple(sorted(row)), []).append(row)
        for columns, batch in by_columns.items():
            await self.session.execute(
                _counter_statement(table, self._dialect, keys, columns), batch
            )

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    async def commit(self) -> None:
        await self.flush()
        await self.session.commit()
        self._shared = None  # its locks are gone with the transaction
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # an announcement must never undo committed work
                log.exception("after-commit callback failed")
        wrote_events, self._wrote_events = self._wrote_events, False
        if self._on_commit is not None:
            self._on_commit()
        if wrote_events and self._on_events is not None:
            self._on_events()

    async def rollback(self) -> None:
        self._wrote_events = False
        self._rows = []
        self._callbacks = []
        self._before_flush = []
        self._shared = None
        await self.session.rollback()


class EventUnitOfWork(Protocol):
    """What a service's handlers see of a transaction: events out, callbacks after commit.

    Each service's own unit-of-work protocol extends it with the repositories it needs.
    """

    def emit(self, event: CloudEvent, topic: str, *, key: str | None = None) -> None:
        """Publish `event` on `topic` if (and only if) this unit of work commits."""
        ...

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once this unit of work has committed (never if it does not)."""
        ...

    async def commit(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Leave: what was not committed is rolled back."""
        ...


class OutboxBackedUnitOfWork(abc.ABC):
    """Base of a service's SQL unit of work: its repositories over one outbox `UnitOfWork`.

    A subclass binds its repositories in `_bind` (called on entry, or at once when it joins a
    transaction someone else opened and commits, as a consumer's batch does).
    """

    def __init__(self, outbox: UnitOfWork) -> None:
        self._outbox = outbox

    @abc.abstractmethod
    def _bind(self) -> None: ...

    def emit(self, event: CloudEvent, topic: str, *, key: str | None = None) -> None:
        self._outbox.emit(event, topic, key=key)

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._outbox.after_commit(callback)

    async def commit(self) -> None:
        await self._outbox.commit()

    async def __aenter__(self) -> Self:
        await self._outbox.__aenter__()
        self._bind()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._outbox.__aexit__(exc_type, exc, tb)
