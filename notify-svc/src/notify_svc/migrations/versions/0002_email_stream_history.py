"""contact e-mail, manual retries, stream history

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import shared.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audience_projects", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("contact_email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True)
        )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("retried_from", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "stream_events",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("event_type", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("project_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("credit_code", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=True),
        sa.Column("departments", sa.JSON(), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("stored_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("event_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_stream_events_stored_at", "stream_events", ["stored_at"])
    op.create_table(
        "stream_positions",
        sa.Column("topic", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("topic", "partition"),
    )
    op.create_index("ix_delivery_bodies_created_at", "delivery_bodies", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_delivery_bodies_created_at", table_name="delivery_bodies")
    op.drop_table("stream_positions")
    op.drop_index("ix_stream_events_stored_at", table_name="stream_events")
    op.drop_table("stream_events")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("retried_from")
    with op.batch_alter_table("audience_projects", schema=None) as batch_op:
        batch_op.drop_column("contact_email")
