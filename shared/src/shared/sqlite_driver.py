"""SQLAlchemy's aiosqlite driver, with one trip to the connection's thread per statement.

aiosqlite runs every sqlite3 call on a thread of its own, and each call is a trip there and
back: a queue put, a thread wake-up, and the answer handed to the event loop through its
self-pipe. SQLAlchemy's adapter makes four such calls for one statement (create the cursor,
execute, fetch the rows, close the cursor), and these trips, not SQLite, were much of a
service's CPU under load (a transaction of four statements: 1.7 ms of CPU, 1.3 ms in one
trip each). Here the statement, its rows and the cursor's close are one function run on the
connection's thread; everything else (transactions, errors, server-side cursors, the pool)
is SQLAlchemy's own adapter, unchanged.

Used through `create_async_engine(..., module=dbapi())`, so URLs stay `sqlite+aiosqlite`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)

_Outcome = tuple[Any, list[Any], int, int | None]


class _StatementCursor:
    """Stands in for an aiosqlite cursor: `execute` runs the statement on the connection's
    thread in one call, with a sqlite3 cursor that lives and dies there, and keeps what the
    adapter reads afterwards (description, rows, rowcount, lastrowid)."""

    __slots__ = ("_conn", "_rows", "arraysize", "description", "lastrowid", "rowcount")

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._rows: list[Any] = []
        self.arraysize = 1
        self.description: Any = None
        self.lastrowid: int | None = None
        self.rowcount = -1

    async def __aenter__(self) -> _StatementCursor:
        return self

    def _run(self, operation: str, parameters: Any, many: bool) -> _Outcome:
        # On the connection's thread: sqlite3 objects are used only where they were made.
        raw: sqlite3.Connection = self._conn._conn
        cursor = raw.cursor()
        try:
            if many:
                cursor.executemany(operation, parameters)
            elif parameters is None:
                cursor.execute(operation)
            else:
                cursor.execute(operation, parameters)
            description = cursor.description
            rows = cursor.fetchall() if description else []
            return description, rows, cursor.rowcount, cursor.lastrowid
        finally:
            cursor.close()

    async def _call(self, operation: str, parameters: Any, many: bool) -> None:
        # aiosqlite's own queue onto its thread (untyped: it is not public API).
        outcome: _Outcome = await self._conn._execute(  # type: ignore[no-untyped-call]
            self._run, operation, parameters, many
        )
        self.description, self._rows, self.rowcount, self.lastrowid = outcome

    async def execute(self, operation: str, parameters: Any = None) -> None:
        await self._call(operation, parameters, False)

    async def executemany(self, operation: str, parameters: Sequence[Any]) -> None:
        await self._call(operation, parameters, True)

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def close(self) -> None:
        self._rows = []


class _Cursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()

    def _make_new_cursor(self, connection: Any) -> Any:
        return _StatementCursor(connection)

    def _aenter_cursor(self, cursor: Any) -> Any:
        return cursor  # nothing to open: the sqlite3 cursor is made when a statement runs


class _Connection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    _cursor_cls = _Cursor


class _Dbapi(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> _Connection:
        adapted = super().connect(*arg, **kw)
        return _Connection(self, adapted._connection)


def dbapi() -> AsyncAdapt_aiosqlite_dbapi:
    """The DBAPI module to hand `create_async_engine` as ``module=`` for a SQLite URL."""
    return _Dbapi(aiosqlite, sqlite3)
