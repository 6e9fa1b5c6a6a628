"""indexes of the list reads: projects by region or procedure, a department's tasks and
projects, the disclosed results

`GET /api/v1/projects?procedure=` (or `?region_code=`) read every matching project through a
one-column index and sorted them by time; (procedure, submitted_at) and (region_code,
submitted_at) replace those indexes and serve the page in order.

`GET /api/v1/departments/{dept}/tasks` without a status filter sorted every task of the
department (ix_tasks_dept_status had the status before the time, and no task id for the
ties); `GET /api/v1/public/results` sorted every task by decision time. Each list now reads an
index in its own order: (department, status, assigned_at, task_id) replaces
(department, status, assigned_at), (department, assigned_at, task_id) serves the list without
a status, and a partial index on (decided_at, task_id) holds the tasks with a document number.
(project_code, department) replaces (project_code): the department's project list asks, for
each project it pages through, whether the department has a task in it, and with the new
department indexes SQLite (no statistics) would answer that from a department index, reading
every task of the department per project.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DISCLOSED = sa.text("document_number IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_index("ix_projects_region_code")
        batch_op.drop_index("ix_projects_procedure")
        batch_op.create_index(
            "ix_projects_region_submitted", ["region_code", "submitted_at"], unique=False
        )
        batch_op.create_index(
            "ix_projects_procedure_submitted", ["procedure", "submitted_at"], unique=False
        )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_project_code")
        batch_op.create_index(
            "ix_tasks_project_department", ["project_code", "department"], unique=False
        )
        batch_op.drop_index("ix_tasks_dept_status")
        batch_op.create_index(
            "ix_tasks_dept_status_assigned",
            ["department", "status", "assigned_at", "task_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_tasks_dept_assigned", ["department", "assigned_at", "task_id"], unique=False
        )
        batch_op.create_index(
            "ix_tasks_disclosed",
            ["decided_at", "task_id"],
            unique=False,
            sqlite_where=_DISCLOSED,
            postgresql_where=_DISCLOSED,
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_disclosed")
        batch_op.drop_index("ix_tasks_dept_assigned")
        batch_op.drop_index("ix_tasks_dept_status_assigned")
        batch_op.create_index(
            "ix_tasks_dept_status", ["department", "status", "assigned_at"], unique=False
        )
        batch_op.drop_index("ix_tasks_project_department")
        batch_op.create_index("ix_tasks_project_code", ["project_code"], unique=False)
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_index("ix_projects_procedure_submitted")
        batch_op.drop_index("ix_projects_region_submitted")
        batch_op.create_index("ix_projects_procedure", ["procedure"], unique=False)
        batch_op.create_index("ix_projects_region_code", ["region_code"], unique=False)
