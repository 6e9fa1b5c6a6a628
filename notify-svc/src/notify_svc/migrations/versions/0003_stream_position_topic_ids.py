"""the topic id each stream position was read from

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 23:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: positions stored before this revision have no id and are trusted as they are.
    with op.batch_alter_table("stream_positions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("topic_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("stream_positions", schema=None) as batch_op:
        batch_op.drop_column("topic_id")
