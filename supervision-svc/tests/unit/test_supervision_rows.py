"""The projection's row types match their tables (what `rows.RowStore` writes relies on it)."""

from __future__ import annotations

from dataclasses import dataclass, fields

import pytest

from shared.db import table_of
from supervision_svc.models import ProjectView, TaskView
from supervision_svc.rows import PROJECT_ROWS, TASK_ROWS, RowKind


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
