"""indexes of the alert lists: a department's and an enterprise's alerts, newest first

`GET /api/v1/alerts` as a department read every alert of the department through
ix_alerts_department and sorted them; (department, raised_at, alert_id) replaces that index
and serves the page in order. As an enterprise the list is read through the alerts' own
credit code (copied from the project when the alert is raised): (credit_code, raised_at,
alert_id).

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_department")
        batch_op.create_index(
            "ix_alerts_department_raised", ["department", "raised_at", "alert_id"], unique=False
        )
        batch_op.create_index(
            "ix_alerts_credit_raised", ["credit_code", "raised_at", "alert_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_credit_raised")
        batch_op.drop_index("ix_alerts_department_raised")
        batch_op.create_index("ix_alerts_department", ["department"], unique=False)
