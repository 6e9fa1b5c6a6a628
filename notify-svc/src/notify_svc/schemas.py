"""Request and response bodies of the notify API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from notify_svc.models import Delivery, Subscription


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Literal["webhook", "email"]
    target: str = Field(min_length=1, max_length=2048, description="URL or e-mail address")
    event_types: list[str] = Field(
        description="Event types of the contract, or ['*'] for every event the caller may see"
    )


class SubscriptionOut(BaseModel):
    id: str
    channel: str
    target: str
    event_types: list[str]
    created_at: datetime
    owner: str

    @classmethod
    def of(cls, row: Subscription) -> SubscriptionOut:
        return cls(
            id=row.id,
            channel=row.channel,
            target=row.target,
            event_types=list(row.event_types),
            created_at=row.created_at,
            owner=row.owner,
        )


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(
        description="HMAC-SHA256 key of the X-Signature header; shown only in this response"
    )


class AttemptOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    attempt: int
    at: datetime
    status: Literal["delivered", "failed"]
    status_code: int | None = None
    error: str | None = None
    detail: str | None = None


class DeliveryOut(BaseModel):
    delivery_id: str
    subscription_id: str
    event_id: str
    event_type: str
    project_code: str | None
    channel: str
    target: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    error: str | None
    created_at: datetime
    at: datetime
    next_attempt_at: datetime | None
    attempt_log: list[AttemptOut]

    @classmethod
    def of(cls, row: Delivery) -> DeliveryOut:
        status: Any = row.status
        return cls(
            delivery_id=row.delivery_id,
            subscription_id=row.subscription_id,
            event_id=row.event_id,
            event_type=row.event_type,
            project_code=row.project_code,
            channel=row.channel,
            target=row.target,
            status=status,
            attempts=row.attempts,
            error=row.error,
            created_at=row.created_at,
            at=row.at,
            # While an attempt is in flight the due time is its lease, not a schedule.
            next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
            attempt_log=[AttemptOut.model_validate(a) for a in row.attempt_log],
        )
