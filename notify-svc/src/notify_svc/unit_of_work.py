"""The unit of work of the notify handlers: repositories, events, one transaction.

`NotifyUnitOfWork` is what a handler is given. `SqlUnitOfWork` runs it on the service's
database and transactional outbox (`shared.outbox.UnitOfWork`): rows, the events they cause
and the after-commit announcements commit (or vanish) together. A consumer's batch already has
a transaction (the event processor commits it with the ids of the events it applied), so the
consumer *joins* it instead of opening one.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self

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
from shared.events import CloudEvent
from shared.outbox import UnitOfWork as OutboxUnitOfWork


class NotifyUnitOfWork(Protocol):
    subscriptions: SubscriptionRepository
    deliveries: DeliveryRepository
    audience: AudienceRepository
    stream: StreamHistoryRepository
    retention: RetentionRepository

    def emit(self, event: CloudEvent, topic: str, *, key: str | None = None) -> None:
        """Publish `event` on `topic` if (and only if) this unit of work commits."""
        ...

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once this unit of work has committed (never if it does not)."""
        ...

    async def commit(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Leave: what was not committed is rolled back."""
        ...


class SqlUnitOfWork:
    """The SQL repositories and the outbox over one database transaction."""

    subscriptions: SubscriptionRepository
    deliveries: DeliveryRepository
    audience: AudienceRepository
    stream: StreamHistoryRepository
    retention: RetentionRepository

    def __init__(self, outbox: OutboxUnitOfWork, caches: Caches) -> None:
        self._outbox = outbox
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

    def emit(self, event: CloudEvent, topic: str, *, key: str | None = None) -> None:
        self._outbox.emit(event, topic, key=key)

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._outbox.after_commit(callback)

    async def commit(self) -> None:
        await self._outbox.commit()

    async def __aenter__(self) -> Self:
        await self._outbox.__aenter__()
        self._bind()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._outbox.__aexit__(exc_type, exc, tb)
