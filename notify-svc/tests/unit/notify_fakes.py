"""In-memory fakes of the notify unit of work and its repositories, for the handler tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from notify_svc import handlers
from notify_svc.domain import (
    CHANNELS,
    ActiveSubscription,
    AttemptOutcome,
    KnownProject,
    NewDelivery,
    ProjectionUpdate,
    SubscriptionIndex,
    Viewer,
    viewer_of_owner,
)
from notify_svc.models import Delivery, Subscription
from notify_svc.repository import Claimed
from notify_svc.stream_history import NewStreamEvent
from shared.events import CloudEvent, EventType, new_event

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
A, B = "91440300708461136T", "91110000100000000X"
ENT_A = Viewer("enterprise", credit_code=A)
ENT_B = Viewer("enterprise", credit_code=B)
MEE = Viewer("department", department="MEE")
OPS = Viewer("ops")


# --- fakes -------------------------------------------------------------------------------


class FakeSubscriptions:
    def __init__(self) -> None:
        self.rows: dict[str, Subscription] = {}

    async def get(self, sub_id: str) -> Subscription | None:
        return self.rows.get(sub_id)

    def add(self, subscription: Subscription) -> None:
        self.rows[subscription.id] = subscription

    async def matching(self, event_type: str) -> Sequence[ActiveSubscription]:
        index = SubscriptionIndex(
            ActiveSubscription(
                r.id,
                r.channel,
                r.target,
                tuple(r.event_types),
                viewer_of_owner(r.owner_role, r.owner_credit_code, r.owner_department),
            )
            for r in self.rows.values()
            if r.deleted_at is None and r.channel in CHANNELS
        )
        return index.matching(event_type)


class FakeDeliveries:
    def __init__(self) -> None:
        self.added: dict[str, NewDelivery] = {}
        self.bodies: dict[str, bytes] = {}
        self.due: list[Claimed] = []
        self.recorded: list[tuple[Delivery, AttemptOutcome, datetime | None]] = []
        self.stored: dict[str, tuple[Delivery, Subscription | None]] = {}
        self.retried: list[str] = []

    async def get(self, delivery_id: str) -> tuple[Delivery, Subscription | None] | None:
        return self.stored.get(delivery_id)

    async def retry(self, delivery: Delivery, *, now: datetime) -> None:
        self.retried.append(delivery.delivery_id)

    async def next_due(self) -> datetime | None:
        return None

    async def pending_retries(self) -> int:
        return 0

    def add(self, delivery: NewDelivery) -> None:
        self.added.setdefault(delivery.delivery_id, delivery)

    def add_body(self, event_id: str, body: bytes, *, now: datetime) -> None:
        self.bodies.setdefault(event_id, body)

    async def claim_due(self, *, now: datetime, lease_until: datetime, limit: int) -> list[Claimed]:
        claimed, self.due = self.due[:limit], self.due[limit:]
        return claimed

    async def record(
        self,
        delivery: Delivery,
        outcome: AttemptOutcome,
        *,
        at: datetime,
        next_attempt_at: datetime | None,
    ) -> None:
        self.recorded.append((delivery, outcome, next_attempt_at))


class FakeStream:
    def __init__(self) -> None:
        self.rows: dict[str, NewStreamEvent] = {}
        self.positions: dict[tuple[str, int], int] = {}
        self.topic_ids: dict[str, str] = {}
        self.locked = 0
        self.purged_before: datetime | None = None

    async def lock(self) -> None:
        self.locked += 1

    def add(self, event: NewStreamEvent) -> None:
        self.rows.setdefault(event.event_id, event)

    async def advance(
        self, positions: Mapping[tuple[str, int], int], *, topic_ids: Mapping[str, str]
    ) -> None:
        for key, next_offset in positions.items():
            if self.topic_ids.get(key[0]) != topic_ids.get(key[0]):
                self.positions[key] = next_offset  # a topic created anew
            else:
                self.positions[key] = max(self.positions.get(key, 0), next_offset)
        self.topic_ids.update(topic_ids)

    async def purge(self, *, before: datetime) -> int:
        self.purged_before = before
        gone = [k for k, v in self.rows.items() if v.stored_at < before]
        for key in gone:
            del self.rows[key]
        return len(gone)

    async def stats(self) -> tuple[int, datetime | None]:
        oldest = min((v.stored_at for v in self.rows.values()), default=None)
        return len(self.rows), oldest


class FakeRetention:
    def __init__(self) -> None:
        self.bodies_at: dict[str, datetime] = {}
        self.needed: set[str] = set()

    async def purge_bodies(self, *, before: datetime) -> int:
        gone = [k for k, at in self.bodies_at.items() if at < before and k not in self.needed]
        for key in gone:
            del self.bodies_at[key]
        return len(gone)

    async def bodies(self) -> tuple[int, datetime | None]:
        purgeable = [at for k, at in self.bodies_at.items() if k not in self.needed]
        return len(self.bodies_at), min(purgeable, default=None)


class FakeAudience:
    def __init__(self, known: dict[str, KnownProject] | None = None) -> None:
        self.known = dict(known or {})
        self.updates: list[ProjectionUpdate] = []
        self.lookups: list[str] = []

    async def get(self, project_code: str) -> KnownProject | None:
        self.lookups.append(project_code)
        return self.known.get(project_code)

    def add(self, update: ProjectionUpdate) -> None:
        # Like the SQL repository: what is added is known at once (its cache remembers it).
        self.updates.append(update)
        old = self.known.get(update.project_code)
        self.known[update.project_code] = (
            old.merged(update.credit_code, update.departments, update.contact_email)
            if old
            else KnownProject(update.credit_code, update.departments, update.contact_email)
        )


class FakeUnitOfWork:
    def __init__(self, audience: FakeAudience | None = None) -> None:
        self.subscriptions = FakeSubscriptions()
        self.deliveries = FakeDeliveries()
        self.audience = audience or FakeAudience()
        self.stream = FakeStream()
        self.retention = FakeRetention()
        self.emitted: list[tuple[CloudEvent, str]] = []
        self.commits = 0
        self._callbacks: list[Callable[[], None]] = []

    def emit(self, event: CloudEvent, topic: str, *, key: str | None = None) -> None:
        self.emitted.append((event, topic))

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)

    async def commit(self) -> None:
        self.commits += 1
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._callbacks = []


@dataclass
class Announcements:
    logged: list[str] = field(default_factory=list)
    wakes: int = 0

    def wake(self) -> None:
        self.wakes += 1

    def announce(self) -> handlers.Announce:
        return handlers.Announce(
            log_channel=lambda e: self.logged.append(e.id), wake_worker=self.wake
        )


async def subscribe(uow: FakeUnitOfWork, viewer: Viewer, *types: str, **kw: Any) -> Subscription:
    command = handlers.Subscribe(
        channel=kw.get("channel", "webhook"),
        target=kw.get("target", " https://hooks.example.com/x "),
        event_types=list(types) or ["*"],
    )
    return await handlers.create_subscription(
        uow, command=command, viewer=viewer, created_by="user-1", now=NOW
    )


def project_event(event_type: str, code: str = "P1", credit: str = A, **extra: Any) -> CloudEvent:
    data = {
        "project_code": code,
        "credit_code": credit,
        "tasks": [{"department": "MEE", "task_id": "t-1"}, {"department": "MNR", "task_id": "t-2"}],
        **extra,
    }
    return new_event(type=event_type, source="/test", subject=code, data=data)


def task_event(code: str = "P1", department: str = "MEE") -> CloudEvent:
    data = {"project_code": code, "department": department, "task_id": "t-1"}
    return new_event(type=EventType.TASK_ASSIGNED, source="/test", subject=code, data=data)
