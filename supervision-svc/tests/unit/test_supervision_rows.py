"""The projection's rows: their types match their tables, and `RowStore` writes what changed,
in key order, and records it only once written (a session that records what it is sent)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.db import table_of
from supervision_svc.models import ProjectView, TaskView
from supervision_svc.rows import PROJECT_ROWS, TASK_ROWS, ProjectRow, RowKind, RowStore


def test_each_row_type_has_exactly_its_tables_columns() -> None:
    for kind, model in ((PROJECT_ROWS, ProjectView), (TASK_ROWS, TaskView)):
        assert set(kind.columns) == set(table_of(model).c.keys())
        assert set(kind.columns) == {f.name for f in fields(kind.row_type)}


def test_a_row_type_missing_a_column_is_refused_at_once() -> None:
    @dataclass
    class Partial:
        task_id: str
        status: str

    with pytest.raises(TypeError, match="columns of tasks"):
        RowKind(Partial, table_of(TaskView), "task_id")  # type: ignore[type-var]


# --- RowStore.write against a session that records what it is sent ------------------------

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class _Result:
    rowcount: int

    def supports_sane_multi_rowcount(self) -> bool:
        return True


class _RecordingSession:
    """Records (statement kind, parameter sets); `fail_on` makes that call raise."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.sent: list[tuple[str, list[dict[str, Any]]]] = []
        self._fail_on = fail_on

    async def execute(self, statement: Any, params: list[dict[str, Any]]) -> _Result:
        if self._fail_on == len(self.sent):
            raise RuntimeError("the database refused it")
        self.sent.append((statement.__visit_name__, params))
        return _Result(len(params))


def _project(code: str, status: str = "submitted") -> ProjectRow:
    return ProjectRow(
        project_code=code,
        credit_code="91440300708461136T",
        status=status,
        procedure="approval",
        region_code="110105",
        submitted_at=T0,
        updated_at=T0,
        version_at=T0,
    )


async def test_changes_are_written_in_key_order_neighbours_with_the_same_columns_together() -> None:
    store = RowStore(PROJECT_ROWS)
    rows = {c: store.loaded(_project(c)) for c in ("P1", "P2", "P3", "P4", "P5")}
    later = T0 + timedelta(hours=1)
    # Added out of order: P4 and P2 approved, P3 given a check time, P5 unchanged, N1 new.
    for code in ("P4", "P2"):
        rows[code].status, rows[code].updated_at = "approved", later
    rows["P3"].next_check_at = later
    for row in (rows["P4"], rows["P5"], _project("N1"), rows["P3"], rows["P2"]):
        store.add(row)
    session = _RecordingSession()
    await store.write(session)  # type: ignore[arg-type]
    assert [
        (kind, [p.get("row_key", p.get("project_code")) for p in params])
        for kind, params in session.sent
    ] == [
        ("insert", ["N1"]),
        ("update", ["P2"]),
        ("update", ["P3"]),
        ("update", ["P4"]),
    ]
    assert session.sent[1][1] == [{"row_key": "P2", "status": "approved", "updated_at": later}]
    assert session.sent[2][1] == [{"row_key": "P3", "next_check_at": later}]

    # Written: nothing pending, and the same state again sends nothing.
    store.add(rows["P2"])
    again = _RecordingSession()
    await store.write(again)  # type: ignore[arg-type]
    assert again.sent == []


async def test_rows_next_to_each_other_with_the_same_change_share_one_statement() -> None:
    store = RowStore(PROJECT_ROWS)
    for code in ("P1", "P2", "P3"):
        row = store.loaded(_project(code))
        row.status = "in_review"
        store.add(row)
    session = _RecordingSession()
    await store.write(session)  # type: ignore[arg-type]
    assert [(kind, len(params)) for kind, params in session.sent] == [("update", 3)]


async def test_a_failed_write_records_nothing_as_written() -> None:
    store = RowStore(PROJECT_ROWS)
    row = store.loaded(_project("P1"))
    row.status = "approved"
    store.add(row)
    with pytest.raises(RuntimeError, match="refused"):
        await store.write(_RecordingSession(fail_on=0))  # type: ignore[arg-type]
    assert store.stored["P1"] == PROJECT_ROWS.values(_project("P1"))


def test_a_row_read_again_keeps_the_object_already_held() -> None:
    store = RowStore(PROJECT_ROWS)
    held = store.loaded(_project("P1"))
    held.status = "approved"  # changed, not written yet
    again = store.loaded(_project("P1"))
    assert again is held
    assert store.stored["P1"] == PROJECT_ROWS.values(_project("P1"))
