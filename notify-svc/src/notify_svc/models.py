"""Tables of the notify service (its own database; shared tables come from `shared.db`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, LargeBinary, text
from sqlmodel import Field, SQLModel

from shared.db import SHARED_TABLES, utc_column

__all__ = ["SHARED_TABLES"]


class Subscription(SQLModel, table=True):
    """Who wants which events where. Deleted ones are kept (their deliveries refer to them)."""

    __tablename__ = "subscriptions"

    id: str = Field(primary_key=True, max_length=40)
    owner: str = Field(max_length=64, index=True)
    owner_role: str = Field(max_length=16)
    owner_credit_code: str | None = Field(default=None, max_length=18)
    owner_department: str | None = Field(default=None, max_length=16)
    created_by: str = Field(max_length=128)
    channel: str = Field(max_length=16)
    target: str = Field(max_length=2048)
    event_types: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The HMAC key must be usable to sign, so it is stored as given (shown to the client once).
    secret: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(sa_column=utc_column())
    deleted_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class Delivery(SQLModel, table=True):
    """One event for one subscription: its status, attempts and each attempt's outcome."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_subscription_seq", "subscription_id", "seq"),
        Index("ix_deliveries_project_seq", "project_code", "seq"),
        # Only pending deliveries have a due time: the worker's queue stays small.
        Index(
            "ix_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("next_attempt_at IS NOT NULL"),
            sqlite_where=text("next_attempt_at IS NOT NULL"),
        ),
    )

    seq: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    delivery_id: str = Field(max_length=36, unique=True)
    subscription_id: str = Field(max_length=40)
    event_id: str = Field(max_length=128)
    event_type: str = Field(max_length=128)
    project_code: str | None = Field(default=None, max_length=32)
    channel: str = Field(max_length=16)
    target: str = Field(max_length=2048)
    status: str = Field(max_length=16)
    attempts: int = 0
    error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(sa_column=utc_column())
    at: datetime = Field(sa_column=utc_column())
    next_attempt_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    attempt_log: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    # Attempts made before the last manual retry: the attempt budget counts from there.
    retried_from: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))


class DeliveryBody(SQLModel, table=True):
    """The exact CloudEvent JSON a webhook is sent (and signed) with, once per event."""

    __tablename__ = "delivery_bodies"
    __table_args__ = (Index("ix_delivery_bodies_created_at", "created_at"),)

    event_id: str = Field(primary_key=True, max_length=128)
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(sa_column=utc_column())


class AudienceProject(SQLModel, table=True):
    """Projection of approval.projects: which enterprise a project code belongs to."""

    __tablename__ = "audience_projects"

    project_code: str = Field(primary_key=True, max_length=32)
    credit_code: str = Field(max_length=18)
    # Where the submission asked to be told (`contact_email`), for events that do not carry it.
    contact_email: str | None = Field(default=None, max_length=320)


class AudienceDepartment(SQLModel, table=True):
    """Projection of approval.projects: which departments have tasks in a project."""

    __tablename__ = "audience_departments"

    project_code: str = Field(primary_key=True, max_length=32)
    department: str = Field(primary_key=True, max_length=16)


class StreamEvent(SQLModel, table=True):
    """History of the live stream: every event a client may be sent, in stream order (`seq`),
    with who may see it, kept for `stream_retention_hours` so a client that reconnects with
    Last-Event-ID is sent what it missed. Written by every replica (a duplicate is ignored),
    one writer at a time, so `seq` order is commit order."""

    __tablename__ = "stream_events"
    __table_args__ = (
        Index("ix_stream_events_stored_at", "stored_at"),
        # Never reuse a number after a purge: clients and tails compare seqs.
        {"sqlite_autoincrement": True},
    )

    seq: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    event_id: str = Field(max_length=128, unique=True)
    event_type: str = Field(max_length=128)
    project_code: str | None = Field(default=None, max_length=32)
    credit_code: str | None = Field(default=None, max_length=18)
    departments: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    resolved: bool = Field(default=True)
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    stored_at: datetime = Field(sa_column=utc_column())


class StreamPosition(SQLModel, table=True):
    """How far the stream history has read each topic partition (the next offset), and in
    which topic: a topic created anew (a new broker) has the same name, a new id, and its
    offsets start again from 0."""

    __tablename__ = "stream_positions"

    topic: str = Field(primary_key=True, max_length=255)
    partition: int = Field(primary_key=True)
    next_offset: int = Field(sa_column=Column(BigInteger, nullable=False))
    topic_id: str | None = Field(default=None, max_length=64)


metadata = SQLModel.metadata
