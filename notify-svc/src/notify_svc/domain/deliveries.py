"""Deliveries: one event for one subscription, its attempts and when it is tried again.

The log channel's delivery is recorded delivered at once. A webhook or e-mail delivery starts
pending (due now); each attempt either delivers it, fails it for good (after `max_attempts`,
or when retrying cannot help), or makes it due again after an exponential backoff.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from shared.events import EventType

DeliveryStatus = Literal["pending", "delivered", "failed"]

_DELIVERY_NAMESPACE = uuid.UUID("6f1c1f5e-8b0a-4c55-9d3e-3f1f0a7c2b11")


def delivery_id(subscription_id: str, event_id: str) -> str:
    """Deterministic: one event reaches one subscription at most once (a unique key)."""
    return str(uuid.uuid5(_DELIVERY_NAMESPACE, f"{subscription_id}\n{event_id}"))


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """A delivery as first recorded."""

    delivery_id: str
    subscription_id: str
    event_id: str
    event_type: str
    project_code: str | None
    channel: str
    target: str
    status: DeliveryStatus
    attempts: int
    now: datetime
    next_attempt_at: datetime | None
    attempt_log: list[dict[str, Any]]


def new_delivery(
    *,
    subscription_id: str,
    channel: str,
    target: str,
    event_id: str,
    event_type: str,
    project_code: str | None,
    now: datetime,
    delivered: bool,
) -> NewDelivery:
    """Delivered at once (the log channel) or pending and due now."""
    return NewDelivery(
        delivery_id=delivery_id(subscription_id, event_id),
        subscription_id=subscription_id,
        event_id=event_id,
        event_type=event_type,
        project_code=project_code,
        channel=channel,
        target=target,
        status="delivered" if delivered else "pending",
        attempts=1 if delivered else 0,
        now=now,
        next_attempt_at=None if delivered else now,
        attempt_log=(
            [{"attempt": 1, "at": now.isoformat(), "status": "delivered"}] if delivered else []
        ),
    )


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """How one attempt to send went."""

    ok: bool
    status_code: int | None = None
    error: str | None = None
    detail: str | None = None
    permanent: bool = False
    """Retrying cannot help (the subscription is gone, the body is missing)."""


# --- retries -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: attempt n failed → wait base * factor**(n-1), capped (real seconds).

    A pure schedule, not a retry loop: the next due time is stored with each delivery, so a
    restart (or another replica) resumes the schedule where it stood.
    """

    base_s: float = 2.0
    factor: float = 2.0
    max_delay_s: float = 300.0

    def __post_init__(self) -> None:
        if self.base_s < 0 or self.factor < 1 or self.max_delay_s < 0:
            raise ValueError("retry policy needs base_s >= 0, factor >= 1, max_delay_s >= 0")

    def delay_after(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        if attempt < 1:
            raise ValueError("attempts are numbered from 1")
        exponent = min(attempt - 1, 64)  # no float overflow for absurd attempt counts
        return float(min(self.base_s * self.factor**exponent, self.max_delay_s))


def permanent_failure(status_code: int | None) -> bool:
    """A response that retrying cannot fix: 410 Gone (the receiver says it is gone for good)."""
    return status_code == 410


def next_delay(
    policy: RetryPolicy, *, attempts: int, max_attempts: int, status_code: int | None
) -> float | None:
    """Seconds until the next attempt after `attempts` failed ones, or None: give up."""
    if attempts >= max_attempts or permanent_failure(status_code):
        return None
    return policy.delay_after(attempts)


# --- the outcome of an attempt -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """A delivery after one more attempt."""

    status: DeliveryStatus
    attempts: int
    error: str | None
    attempt_log: list[dict[str, Any]]
    retry_after_s: float | None
    """Pending again: real seconds until it is due (None once delivered or failed)."""

    @property
    def final(self) -> bool:
        return self.status != "pending"

    @property
    def announcement(self) -> EventType | None:
        """The event announcing a final outcome on notify.deliveries."""
        if self.status == "delivered":
            return EventType.NOTIFICATION_DELIVERED
        if self.status == "failed":
            return EventType.NOTIFICATION_FAILED
        return None


def retry_problem(status: str, *, subscription_gone: bool) -> str | None:
    """Why a delivery cannot be sent again by hand, or None (only a failed one can)."""
    if status != "failed":
        return f"only a failed delivery can be retried (this one is {status})"
    if subscription_gone:
        return "its subscription was deleted"
    return None


def outcome_of_attempt(
    *,
    attempts_before: int,
    attempt_log: list[dict[str, Any]],
    result: AttemptResult,
    now: datetime,
    policy: RetryPolicy,
    max_attempts: int,
    retried_from: int = 0,
) -> AttemptOutcome:
    """`retried_from`: attempts made before the last manual retry (the budget restarts)."""
    attempts = attempts_before + 1
    entry: dict[str, Any] = {
        "attempt": attempts,
        "at": now.isoformat(),
        "status": "delivered" if result.ok else "failed",
        "status_code": result.status_code,
        "error": result.error,
    }
    if result.detail:
        entry["detail"] = result.detail
    log = [*attempt_log, entry]
    if result.ok:
        return AttemptOutcome("delivered", attempts, result.error, log, None)
    delay = None
    if not result.permanent:
        delay = next_delay(
            policy,
            attempts=attempts - retried_from,
            max_attempts=max_attempts,
            status_code=result.status_code,
        )
    if delay is None:
        return AttemptOutcome("failed", attempts, result.error, log, None)
    return AttemptOutcome("pending", attempts, result.error, log, delay)
