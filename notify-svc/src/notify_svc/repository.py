"""Where the handlers' rows live: the repositories they are written against, and SQL ones.

Handlers see only the protocols below (through a unit of work, see `unit_of_work`), so their
rules are unit-tested against in-memory fakes; the SQL classes are what the service runs on.
Rows the consumer writes per event are buffered by the outbox unit of work and inserted with
one executemany per table when the batch commits, duplicates ignored (every such row has a
natural key, so a replayed event writes nothing new).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import Table, delete, exists, func, inspect, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from notify_svc.caches import ProjectDirectory, SubscriptionDirectory
from notify_svc.domain import (
    CHANNELS,
    ActiveSubscription,
    AttemptOutcome,
    KnownProject,
    NewDelivery,
    ProjectionUpdate,
    SubscriptionIndex,
    viewer_of_owner,
)
from notify_svc.models import (
    AudienceDepartment,
    AudienceProject,
    Delivery,
    DeliveryBody,
    Subscription,
)
from shared.outbox import UnitOfWork as OutboxUnitOfWork


def _table(model: type[Any]) -> Table:
    # Core inserts of the table: an executemany without the ORM's per-row bookkeeping.
    return cast(Table, inspect(model).local_table)


DELIVERIES = _table(Delivery)
BODIES = _table(DeliveryBody)
PROJECT_OWNERS = _table(AudienceProject)
PROJECT_DEPARTMENTS = _table(AudienceDepartment)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A due delivery the worker now holds (its due time moved past a lease), ready to send."""

    delivery: Delivery
    body: bytes | None
    secret: str | None
    subscription_gone: bool


# --- the protocols -------------------------------------------------------------------------


class SubscriptionRepository(Protocol):
    async def get(self, sub_id: str) -> Subscription | None: ...

    def add(self, subscription: Subscription) -> None:
        """Store a new subscription, or the changes made to one this repository returned."""
        ...

    async def matching(self, event_type: str) -> Sequence[ActiveSubscription]:
        """The active webhook and e-mail subscriptions that want `event_type`."""
        ...


class DeliveryRepository(Protocol):
    async def get(self, delivery_id: str) -> tuple[Delivery, Subscription | None] | None:
        """A delivery and its subscription (None for the system's own channels)."""
        ...

    async def retry(self, delivery: Delivery, *, now: datetime) -> None:
        """Make a failed delivery pending and due at `now`, with a fresh attempt budget."""
        ...

    def add(self, delivery: NewDelivery) -> None:
        """Record a delivery (one already recorded under its id is kept as it is)."""
        ...

    def add_body(self, event_id: str, body: bytes, *, now: datetime) -> None:
        """Keep the exact bytes a webhook of this event is sent and signed with (once)."""
        ...

    async def claim_due(self, *, now: datetime, lease_until: datetime, limit: int) -> list[Claimed]:
        """Pending deliveries due at `now`, each made due only at `lease_until` (held)."""
        ...

    async def record(
        self,
        delivery: Delivery,
        outcome: AttemptOutcome,
        *,
        at: datetime,
        next_attempt_at: datetime | None,
    ) -> None:
        """Store the outcome of one more attempt of `delivery`."""
        ...

    async def next_due(self) -> datetime | None:
        """When the earliest pending delivery is due (None: nothing pending)."""
        ...

    async def pending_retries(self) -> int:
        """Pending deliveries that have failed at least once."""
        ...


class RetentionRepository(Protocol):
    async def purge_bodies(self, *, before: datetime) -> int:
        """Delete delivery bodies stored before `before` that no pending delivery still needs."""
        ...

    async def bodies(self) -> tuple[int, datetime | None]:
        """How many delivery bodies are stored, and when the oldest purgeable one was."""
        ...


class AudienceRepository(Protocol):
    """The projection of approval.projects: who a project's events concern."""

    async def get(self, project_code: str) -> KnownProject | None: ...

    def add(self, update: ProjectionUpdate) -> None: ...


# --- SQL -----------------------------------------------------------------------------------


class SqlSubscriptionRepository:
    def __init__(
        self,
        session: AsyncSession,
        directory: SubscriptionDirectory,
        after_commit: Callable[[Callable[[], None]], None],
    ) -> None:
        self._session = session
        self._directory = directory
        self._after_commit = after_commit

    async def get(self, sub_id: str) -> Subscription | None:
        return await self._session.get(Subscription, sub_id)

    def add(self, subscription: Subscription) -> None:
        self._session.add(subscription)
        # This process sees the change at once; other replicas within the directory's TTL.
        self._after_commit(self._directory.invalidate)

    async def matching(self, event_type: str) -> Sequence[ActiveSubscription]:
        return (await self._directory.index(self._load)).matching(event_type)

    async def _load(self) -> SubscriptionIndex:
        rows = (
            await self._session.exec(
                select(Subscription)
                .where(col(Subscription.deleted_at).is_(None))
                .where(col(Subscription.channel).in_(CHANNELS))
            )
        ).all()
        return SubscriptionIndex(
            ActiveSubscription(
                id=r.id,
                channel=r.channel,
                target=r.target,
                event_types=tuple(r.event_types),
                viewer=viewer_of_owner(r.owner_role, r.owner_credit_code, r.owner_department),
            )
            for r in rows
        )


class SqlDeliveryRepository:
    def __init__(self, outbox: OutboxUnitOfWork) -> None:
        self._outbox = outbox

    async def get(self, delivery_id: str) -> tuple[Delivery, Subscription | None] | None:
        session = self._outbox.session
        row = (
            await session.exec(select(Delivery).where(col(Delivery.delivery_id) == delivery_id))
        ).first()
        if row is None:
            return None
        return row, await session.get(Subscription, row.subscription_id)

    async def retry(self, delivery: Delivery, *, now: datetime) -> None:
        await self._outbox.session.exec(
            update(Delivery)
            .where(col(Delivery.seq) == delivery.seq)
            .where(col(Delivery.status) == "failed")
            .values(status="pending", next_attempt_at=now, retried_from=delivery.attempts, at=now)
        )

    def add(self, delivery: NewDelivery) -> None:
        self._outbox.add_row(
            DELIVERIES,
            {
                "delivery_id": delivery.delivery_id,
                "subscription_id": delivery.subscription_id,
                "event_id": delivery.event_id,
                "event_type": delivery.event_type,
                "project_code": delivery.project_code,
                "channel": delivery.channel,
                "target": delivery.target,
                "status": delivery.status,
                "attempts": delivery.attempts,
                "error": None,
                "created_at": delivery.now,
                "at": delivery.now,
                "next_attempt_at": delivery.next_attempt_at,
                "attempt_log": delivery.attempt_log,
                "retried_from": 0,
            },
            ignore_duplicates=True,
        )

    def add_body(self, event_id: str, body: bytes, *, now: datetime) -> None:
        self._outbox.add_row(
            BODIES, {"event_id": event_id, "body": body, "created_at": now}, ignore_duplicates=True
        )

    async def claim_due(self, *, now: datetime, lease_until: datetime, limit: int) -> list[Claimed]:
        session = self._outbox.session
        rows = (
            await session.exec(
                select(Delivery, DeliveryBody.body, Subscription.secret, Subscription.deleted_at)
                .join(
                    DeliveryBody,
                    col(DeliveryBody.event_id) == col(Delivery.event_id),
                    isouter=True,
                )
                .join(
                    Subscription,
                    col(Subscription.id) == col(Delivery.subscription_id),
                    isouter=True,
                )
                .where(col(Delivery.next_attempt_at).is_not(None))
                .where(col(Delivery.next_attempt_at) <= now)
                .order_by(col(Delivery.next_attempt_at))
                .limit(limit)
            )
        ).all()
        claimed: list[Claimed] = []
        for delivery, body, secret, deleted_at in rows:
            # Conditional: of two replicas reading the same due row, one moves it.
            result = await session.exec(
                update(Delivery)
                .where(col(Delivery.seq) == delivery.seq)
                .where(col(Delivery.status) == "pending")
                .where(col(Delivery.next_attempt_at) <= now)
                .values(next_attempt_at=lease_until)
            )
            if result.rowcount == 1:
                claimed.append(Claimed(delivery, body, secret, deleted_at is not None))
        return claimed

    async def record(
        self,
        delivery: Delivery,
        outcome: AttemptOutcome,
        *,
        at: datetime,
        next_attempt_at: datetime | None,
    ) -> None:
        await self._outbox.session.exec(
            update(Delivery)
            .where(col(Delivery.seq) == delivery.seq)
            .values(
                status=outcome.status,
                attempts=outcome.attempts,
                at=at,
                error=outcome.error,
                attempt_log=outcome.attempt_log,
                next_attempt_at=next_attempt_at,
            )
        )

    async def next_due(self) -> datetime | None:
        found: datetime | None = (
            await self._outbox.session.exec(
                select(func.min(col(Delivery.next_attempt_at))).where(
                    col(Delivery.next_attempt_at).is_not(None)
                )
            )
        ).one()
        return found

    async def pending_retries(self) -> int:
        found = (
            await self._outbox.session.exec(
                select(func.count())
                .select_from(Delivery)
                .where(col(Delivery.next_attempt_at).is_not(None))
                .where(col(Delivery.attempts) > col(Delivery.retried_from))
            )
        ).one()
        return int(found or 0)


# A body a pending delivery will still send is kept, however old.
_STILL_NEEDED = exists().where(
    col(Delivery.event_id) == col(DeliveryBody.event_id), col(Delivery.status) == "pending"
)


class SqlRetentionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def purge_bodies(self, *, before: datetime) -> int:
        result = await self._session.exec(
            delete(DeliveryBody).where(col(DeliveryBody.created_at) < before).where(~_STILL_NEEDED)
        )
        return int(result.rowcount or 0)

    async def bodies(self) -> tuple[int, datetime | None]:
        count = (await self._session.exec(select(func.count()).select_from(DeliveryBody))).one()
        oldest: datetime | None = (
            await self._session.exec(
                select(func.min(col(DeliveryBody.created_at))).where(~_STILL_NEEDED)
            )
        ).one()
        return int(count or 0), oldest


class SqlAudienceRepository:
    def __init__(self, outbox: OutboxUnitOfWork, directory: ProjectDirectory) -> None:
        self._outbox = outbox
        self._directory = directory

    async def get(self, project_code: str) -> KnownProject | None:
        cached = self._directory.get(project_code)
        if cached is not None:
            return cached
        session = self._outbox.session
        owner = await session.get(AudienceProject, project_code)
        contact = owner.contact_email if owner else None
        departments = (
            await session.exec(
                select(AudienceDepartment.department).where(
                    AudienceDepartment.project_code == project_code
                )
            )
        ).all()
        if owner is None and not departments:
            return None  # not cached: a later projection row must be found
        return self._directory.remember(
            project_code, owner.credit_code if owner else None, frozenset(departments), contact
        )

    def add(self, update: ProjectionUpdate) -> None:
        code = update.project_code
        if update.records_owner and update.credit_code:
            self._outbox.add_row(
                PROJECT_OWNERS,
                {
                    "project_code": code,
                    "credit_code": update.credit_code,
                    "contact_email": update.contact_email,
                },
                ignore_duplicates=True,
            )
        for department in update.departments:
            self._outbox.add_row(
                PROJECT_DEPARTMENTS,
                {"project_code": code, "department": department},
                ignore_duplicates=True,
            )
        self._directory.remember(code, update.credit_code, update.departments, update.contact_email)
