"""The unit of work of the notify handlers: repositories, events, one transaction.

`NotifyUnitOfWork` is what a handler is given. `SqlUnitOfWork` runs it on the service's
database and transactional outbox (`shared.outbox.UnitOfWork`): rows, the events they cause
and the after-commit announcements commit (or vanish) together. A consumer's batch already has
a transaction (the event processor commits it with the ids of the events it applied), so the
consumer *joins* it instead of opening one.
"""

from __future__ import annotations

from typing import Protocol

from notify_svc.caches import Caches
from notify_svc.repository import (
    AudienceRepository,
    DeliveryRepository,
    RetentionRepository,
    SqlAudienceRepository,
    SqlDeliveryRepository,
    SqlRetentionRepository,
    SqlSubscriptionRepository,
    SubscriptionRepository,
)
from notify_svc.stream_history import SqlStreamHistoryRepository, StreamHistoryRepository
from shared.outbox import EventUnitOfWork, OutboxBackedUnitOfWork
from shared.outbox import UnitOfWork as OutboxUnitOfWork


class NotifyUnitOfWork(EventUnitOfWork, Protocol):
    subscriptions: SubscriptionRepository
    deliveries: DeliveryRepository
    audience: AudienceRepository
    stream: StreamHistoryRepository
    retention: RetentionRepository


class SqlUnitOfWork(OutboxBackedUnitOfWork):
    """The SQL repositories and the outbox over one database transaction."""

    subscriptions: SubscriptionRepository
    deliveries: DeliveryRepository
    audience: AudienceRepository
    stream: StreamHistoryRepository
    retention: RetentionRepository

    def __init__(self, outbox: OutboxUnitOfWork, caches: Caches) -> None:
        super().__init__(outbox)
        self._caches = caches

    @classmethod
    def joining(cls, outbox: OutboxUnitOfWork, caches: Caches) -> SqlUnitOfWork:
        """A unit of work inside a transaction someone else opened and commits."""
        uow = cls(outbox, caches)
        uow._bind()
        return uow

    def _bind(self) -> None:
        outbox = self._outbox
        self.subscriptions = SqlSubscriptionRepository(
            outbox.session, self._caches.subscriptions, outbox.after_commit
        )
        self.deliveries = SqlDeliveryRepository(outbox)
        self.audience = SqlAudienceRepository(outbox, self._caches.projects)
        self.stream = SqlStreamHistoryRepository(outbox)
        self.retention = SqlRetentionRepository(outbox.session)
