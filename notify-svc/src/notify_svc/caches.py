"""Read-mostly lookups of the consumer's hot path, cached in memory (one per process).

- `SubscriptionDirectory`: the active subscriptions indexed by event type. Changes made through
  this process's API invalidate it once they commit; changes made by another replica are
  picked up within `ttl_s`.
- `ProjectDirectory`: project code → what the audience projection knows (owning enterprise,
  departments with tasks). The facts only grow (a project's enterprise never changes,
  departments are only added), so caching them is safe; unknown projects are not cached, so a
  later projection row is found.

Both are filled by the SQL repositories (`notify_svc.repository`), which own the queries.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from notify_svc.domain import KnownProject, SubscriptionIndex


class SubscriptionDirectory:
    def __init__(self, *, ttl_s: float = 1.0) -> None:
        self._ttl = ttl_s
        self._index: SubscriptionIndex | None = None
        self._loaded_at = 0.0

    def invalidate(self) -> None:
        self._index = None

    async def index(self, load: Callable[[], Awaitable[SubscriptionIndex]]) -> SubscriptionIndex:
        """The cached index, or a fresh one from `load` when it is missing or stale."""
        now = time.monotonic()
        if self._index is None or now - self._loaded_at > self._ttl:
            self._index = await load()
            self._loaded_at = now
        return self._index


class ProjectDirectory:
    def __init__(self, *, max_entries: int = 100_000) -> None:
        self._max = max_entries
        self._known: OrderedDict[str, KnownProject] = OrderedDict()

    def get(self, project_code: str) -> KnownProject | None:
        cached = self._known.get(project_code)
        if cached is not None:
            self._known.move_to_end(project_code)
        return cached

    def remember(
        self,
        project_code: str,
        credit_code: str | None,
        departments: frozenset[str],
        contact_email: str | None = None,
    ) -> KnownProject:
        old = self._known.get(project_code)
        known = (
            old.merged(credit_code, departments, contact_email)
            if old is not None
            else KnownProject(credit_code, departments, contact_email)
        )
        self._known[project_code] = known
        self._known.move_to_end(project_code)
        while len(self._known) > self._max:
            self._known.popitem(last=False)
        return known


class Caches:
    """The process's caches, shared by every unit of work of the service."""

    def __init__(self, *, subscriptions_ttl_s: float = 1.0) -> None:
        self.subscriptions = SubscriptionDirectory(ttl_s=subscriptions_ttl_s)
        self.projects = ProjectDirectory()
