"""Read-mostly lookups of the consumer's hot path, cached in memory.

- `SubscriptionDirectory`: the active subscriptions indexed by event type. Changes made through
  this process's API invalidate it at once; changes made by another replica are picked up
  within `ttl_s`.
- `ProjectDirectory`: project code → owning enterprise and departments with tasks (the
  projection fed by approval.projects). The facts only grow (a project's enterprise never
  changes, departments are only added), so caching them is safe; unknown projects are not
  cached, so a later projection row is found.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from notify_svc.domain import WILDCARD, KnownProject, Viewer
from notify_svc.models import AudienceDepartment, AudienceProject, Subscription


@dataclass(frozen=True, slots=True)
class ActiveSubscription:
    id: str
    channel: str
    target: str
    event_types: tuple[str, ...]
    viewer: Viewer


def viewer_of(row: Subscription) -> Viewer:
    role = row.owner_role if row.owner_role in ("enterprise", "department") else "ops"
    return Viewer(
        role=cast(Any, role),
        credit_code=row.owner_credit_code,
        department=row.owner_department,
    )


class SubscriptionIndex:
    def __init__(self, subscriptions: Iterable[ActiveSubscription]) -> None:
        self._by_type: dict[str, list[ActiveSubscription]] = {}
        self._any: list[ActiveSubscription] = []
        for sub in subscriptions:
            if WILDCARD in sub.event_types:
                self._any.append(sub)
                continue
            for event_type in sub.event_types:
                self._by_type.setdefault(event_type, []).append(sub)

    def matching(self, event_type: str) -> Sequence[ActiveSubscription]:
        typed = self._by_type.get(event_type)
        if not typed:
            return self._any
        return [*typed, *self._any] if self._any else typed


class SubscriptionDirectory:
    def __init__(self, *, ttl_s: float = 1.0) -> None:
        self._ttl = ttl_s
        self._index: SubscriptionIndex | None = None
        self._loaded_at = 0.0

    def invalidate(self) -> None:
        self._index = None

    async def index(self, session: AsyncSession) -> SubscriptionIndex:
        now = time.monotonic()
        if self._index is None or now - self._loaded_at > self._ttl:
            rows = (
                await session.exec(
                    select(Subscription)
                    .where(col(Subscription.deleted_at).is_(None))
                    .where(col(Subscription.channel).in_(("webhook", "email")))
                )
            ).all()
            self._index = SubscriptionIndex(
                ActiveSubscription(
                    id=r.id,
                    channel=r.channel,
                    target=r.target,
                    event_types=tuple(r.event_types),
                    viewer=viewer_of(r),
                )
                for r in rows
            )
            self._loaded_at = now
        return self._index


class ProjectDirectory:
    def __init__(self, *, max_entries: int = 100_000) -> None:
        self._max = max_entries
        self._known: OrderedDict[str, KnownProject] = OrderedDict()

    def remember(
        self, project_code: str, credit_code: str | None, departments: frozenset[str]
    ) -> None:
        old = self._known.get(project_code)
        if old is not None:
            credit_code = credit_code or old.credit_code
            departments = departments | old.departments
        self._known[project_code] = KnownProject(credit_code, departments)
        self._known.move_to_end(project_code)
        while len(self._known) > self._max:
            self._known.popitem(last=False)

    async def lookup(self, session: AsyncSession, project_code: str) -> KnownProject | None:
        cached = self._known.get(project_code)
        if cached is not None:
            self._known.move_to_end(project_code)
            return cached
        owner = await session.get(AudienceProject, project_code)
        departments = (
            await session.exec(
                select(AudienceDepartment.department).where(
                    AudienceDepartment.project_code == project_code
                )
            )
        ).all()
        if owner is None and not departments:
            return None
        self.remember(project_code, owner.credit_code if owner else None, frozenset(departments))
        return self._known[project_code]
