"""Work tied to the consumer's batch transaction: buffered inserts and after-commit callbacks.

The consumer calls a handler per event inside one transaction per batch. To keep per-event
work to appending to lists, handlers buffer their rows here; the rows are written with one
executemany per table just before the transaction commits (`INSERT ... ON CONFLICT DO
NOTHING`: every row has a natural key, so a replay writes nothing new). Callbacks (log line,
stream broadcast, waking the delivery worker) run only after the commit. Rolling back the whole
transaction drops both; rolling back a savepoint (one event failing in isolation) drops
neither, because a failing handler buffers nothing (buffering is its last step).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

log = logging.getLogger(__name__)
_KEY = "notify_txn"


@dataclass(slots=True)
class TransactionWork:
    rows: dict[Table, list[dict[str, Any]]] = field(default_factory=dict)
    callbacks: list[Callable[[], None]] = field(default_factory=list)

    def clear(self) -> None:
        self.rows.clear()
        self.callbacks.clear()


def _insert_ignoring_duplicates(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    # One executemany of one cached statement: SQLite loops in C, psycopg pipelines it.
    # (A multi-row VALUES would have to be compiled anew for every batch: far slower.)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(table).on_conflict_do_nothing(), rows)


def _work(session: AsyncSession) -> TransactionWork:
    sync = session.sync_session
    existing = sync.info.get(_KEY)
    if isinstance(existing, TransactionWork):
        return existing
    work = TransactionWork()
    sync.info[_KEY] = work

    def before_commit(sess: Session) -> None:
        pending, work.rows = work.rows, {}
        for table, rows in pending.items():
            if rows:
                _insert_ignoring_duplicates(sess, table, rows)

    def on_commit(_: Session) -> None:
        callbacks, work.callbacks = work.callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # an announcement must never undo a committed batch
                log.exception("after-commit callback failed")

    def on_rollback(_: Session, previous: Any) -> None:
        if not previous.nested and previous.parent is None:
            work.clear()

    sa_event.listen(sync, "before_commit", before_commit)
    sa_event.listen(sync, "after_commit", on_commit)
    sa_event.listen(sync, "after_soft_rollback", on_rollback)
    return work


def insert_later(session: AsyncSession, table: Table, row: dict[str, Any]) -> None:
    """Write `row` into `table` when the session's transaction commits (duplicates ignored)."""
    _work(session).rows.setdefault(table, []).append(row)


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run `callback` once the session's current transaction commits (dropped on rollback)."""
    _work(session).callbacks.append(callback)
