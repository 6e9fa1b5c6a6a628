"""The projection's projects and tasks as plain objects, read and written with SQLAlchemy Core.

Every approved project moves its projection rows about a dozen times (submitted, three tasks
assigned, three decisions, approved, and a project event carries every task again). As ORM
objects (SQLModel table models) each touch paid for instrumentation, attribute events and the
unit of work's flush: a third of the service's CPU under load. Here a row is a slotted
dataclass with the table's columns, a `RowStore` remembers what the database holds of each row
a transaction read or wrote, and writing sends only the rows and columns that changed: one
INSERT executemany for new rows and one UPDATE executemany per set of changed columns.

The tables stay declared in `models` (the migrations' and the read queries' source of truth);
`RowKind` checks at import that a row type has exactly its table's columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from itertools import groupby
from operator import itemgetter
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import CursorResult, Result, Table, bindparam, func, insert, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import table_of
from supervision_svc.models import ProjectView, TaskView

_CHUNK = 500  # keys per IN list: well under every database's bound-parameter limit
_KEY = "row_key"  # the bound parameter an UPDATE finds its row by (not a column name)


@dataclass(slots=True, eq=False)
class ProjectRow:
    """A project as approval-svc last told us, with what its reports add up to (the columns
    of `models.ProjectView`)."""

    project_code: str
    credit_code: str
    status: str
    procedure: str
    region_code: str
    submitted_at: datetime
    updated_at: datetime
    version_at: datetime
    name: str | None = None
    planned_start: date | None = None
    industry_code: str | None = None
    cleared_at: datetime | None = None
    started_on: date | None = None
    completed_on: date | None = None
    last_report_on: date | None = None
    reported_progress: Decimal | None = None
    invested_to_date: Decimal | None = None
    planned_completion: date | None = None
    started_before_approval: bool = False
    next_check_at: datetime | None = None


@dataclass(slots=True, eq=False)
class TaskRow:
    """A department task as approval-svc last told us (the columns of `models.TaskView`)."""

    task_id: str
    project_code: str
    department: str
    matter_code: str
    matter_name: str
    status: str
    assigned_at: datetime
    due_at: datetime
    yellow_at: datetime
    version_at: datetime
    decided_at: datetime | None = None
    decision: str | None = None
    decision_seconds: float | None = None


R = TypeVar("R", ProjectRow, TaskRow)


class RowKind(Generic[R]):
    """How rows of one type map to their table."""

    def __init__(self, row_type: type[R], table: Table, key: str) -> None:
        self.row_type: type[R] = row_type
        self.table = table
        self.key = key
        self.columns: tuple[str, ...] = tuple(f.name for f in fields(row_type))
        if set(self.columns) != set(table.c.keys()):
            raise TypeError(f"{row_type.__name__} does not have the columns of {table.name}")
        self.key_column = table.c[key]
        self.update_statement = update(table).where(self.key_column == bindparam(_KEY))

    def key_of(self, row: R) -> str:
        value: str = getattr(row, self.key)
        return value

    def values(self, row: R) -> tuple[Any, ...]:
        return tuple(getattr(row, name) for name in self.columns)

    def from_db(self, mapping: Mapping[Any, Any]) -> R:
        return self.row_type(**mapping)

    async def read(self, session: AsyncSession, column: str, values: Iterable[str]) -> list[R]:
        """The rows whose `column` is one of `values`, a few hundred per statement."""
        found: list[R] = []
        for chunk in chunks(sorted(set(values))):
            query = select(self.table).where(self.table.c[column].in_(chunk))
            result = await session.execute(query)
            found.extend(self.from_db(m) for m in result.mappings())
        return found


def chunks(values: list[str]) -> Iterator[list[str]]:
    """`values` a few hundred at a time (one IN list each)."""
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


PROJECT_ROWS = RowKind(ProjectRow, table_of(ProjectView), "project_code")
TASK_ROWS = RowKind(TaskRow, table_of(TaskView), "task_id")


class LostRowError(RuntimeError):
    """An UPDATE found fewer rows than it was sent for: the store's idea of what the database
    holds was wrong, and the change would otherwise vanish without a trace."""


class RowStore(Generic[R]):
    """The rows of one table a transaction read or wrote: the same object for the same key
    (`known`), what the database holds of each (`stored`), and the rows added since the last
    write (`pending`). A row added whose key was never read or written is new (an INSERT)."""

    def __init__(self, kind: RowKind[R]) -> None:
        self.kind: RowKind[R] = kind
        self.known: dict[str, R] = {}
        self.stored: dict[str, tuple[Any, ...]] = {}
        self.pending: dict[str, R] = {}

    def loaded(self, row: R) -> R:
        """`row` as just read from the database; a key already held keeps its object (which
        may carry changes not written yet) and what was recorded of it."""
        key = self.kind.key_of(row)
        held = self.known.get(key)
        if held is not None:
            return held
        self.known[key] = row
        self.stored[key] = self.kind.values(row)
        return row

    async def get(self, session: AsyncSession, key: str) -> R | None:
        """The row with `key`: the one held, else read from the database (None: not there)."""
        if (held := self.known.get(key)) is not None:
            return held
        found = await self.kind.read(session, self.kind.key, [key])
        return self.loaded(found[0]) if found else None

    def load_all(self, result: Result[Any]) -> list[R]:
        """The rows of a query on the whole table (see `loaded`), in its order."""
        return [self.loaded(self.kind.from_db(m)) for m in result.mappings()]

    def add(self, row: R) -> None:
        key = self.kind.key_of(row)
        self.known[key] = row
        self.pending[key] = row

    async def write(self, session: AsyncSession) -> None:
        """Write what the pending rows changed since they were read or last written.

        In key order, as the ORM's flush did: two transactions updating the same rows (a
        projection batch and a sweep) then lock them in the same order and cannot deadlock on
        PostgreSQL. Rows next to each other in that order that changed the same columns share
        one executemany. What the database holds is recorded once the statements succeeded."""
        pending, self.pending = self.pending, {}
        columns = self.kind.columns
        inserts: list[dict[str, Any]] = []
        updates: list[tuple[tuple[str, ...], dict[str, Any]]] = []
        written: dict[str, tuple[Any, ...]] = {}
        for key in sorted(pending):
            now = self.kind.values(pending[key])
            before = self.stored.get(key)
            if before is None:
                inserts.append(dict(zip(columns, now, strict=True)))
            else:
                changed = {
                    name: value
                    for name, value, old in zip(columns, now, before, strict=True)
                    if value != old
                }
                if not changed:
                    continue
                updates.append((tuple(changed), {_KEY: key, **changed}))
            written[key] = now
        if inserts:
            await session.execute(insert(self.kind.table), inserts)
        for _, run in groupby(updates, key=itemgetter(0)):
            # Core takes an executemany's SET clause from its first parameter set: every row
            # of a batch changed the same columns.
            batch = [params for _, params in run]
            result = await session.execute(self.kind.update_statement, batch)
            found = await self._rows_updated(session, cast("CursorResult[Any]", result), batch)
            if found != len(batch):
                raise LostRowError(
                    f"{self.kind.table.name}: {len(batch)} rows to update, {found} found"
                )
        self.stored.update(written)

    async def _rows_updated(
        self, session: AsyncSession, result: CursorResult[Any], batch: list[dict[str, Any]]
    ) -> int:
        """How many rows the UPDATE found. A single row's count comes with the statement
        (SQLAlchemy sends one parameter set with `execute`). asyncpg's `executemany` gives no
        count; there the rows are counted by key instead: the UPDATE matched by key alone and
        holds their locks until the end of the transaction, so the ones that exist are the
        ones it found."""
        if len(batch) == 1 or result.supports_sane_multi_rowcount():
            return result.rowcount
        count = 0
        for chunk in chunks([params[_KEY] for params in batch]):
            query = select(func.count()).where(self.kind.key_column.in_(chunk))
            count += int((await session.execute(query)).scalar_one())
        return count
