"""In-memory stand-ins for the approval service's unit of work, for unit tests of the handlers.

The fake behaves like one database transaction: changes are staged until ``commit`` and a
``rollback`` (or an error before the commit) leaves the committed state as it was. Nothing here
touches a database, a broker or a file.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from approval_svc.domain.audit import AuditEntry
from approval_svc.domain.credit import CreditStanding
from approval_svc.domain.project import Project
from approval_svc.publishing import Message
from approval_svc.unit_of_work import CommitConflict


@dataclass
class Store:
    """What a test's "database" holds once committed."""

    projects: dict[str, Project] = field(default_factory=dict)
    idempotency: dict[tuple[str, str], tuple[str, dict[str, Any]]] = field(default_factory=dict)
    serials: dict[object, int] = field(default_factory=dict)
    published: list[Message] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    credit: dict[str, CreditStanding] = field(default_factory=dict)


class FakeProjects:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    async def get(self, code: str) -> Project | None:
        return self._uow.staged.projects.get(code)

    async def get_by_task(self, task_id: str) -> Project | None:
        for project in self._uow.staged.projects.values():
            if any(t.task_id == task_id for t in project.tasks):
                return project
        return None

    def add(self, project: Project) -> None:
        self._uow.staged.projects[project.code] = project

    async def save(self, project: Project) -> None:
        assert project.code in self._uow.staged.projects, "save() of a project never loaded"
        self._uow.staged.projects[project.code] = project

    async def consultations_due(self, now: datetime, limit: int) -> list[str]:
        due = [
            t.task_id
            for p in self._uow.staged.projects.values()
            for t in p.tasks
            if p.consultation_overdue(t.task_id, now)
        ]
        return due[:limit]


class FakeSequences:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    def _next(self, key: object) -> int:
        serials = self._uow.staged.serials
        serials[key] = serials.get(key, 0) + 1
        return serials[key]

    async def next_project_serial(self, prefix: str) -> int:
        return self._next(("project", prefix))

    async def next_document_serial(self, department: str, year: int) -> int:
        return self._next(("document", department, year))


class FakeIdempotencyKeys:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow
        self.added: list[tuple[str, str]] = []

    async def get(self, owner: str, key: str) -> tuple[str, dict[str, Any]] | None:
        return self._uow.staged.idempotency.get((owner, key))

    def add(
        self, owner: str, key: str, fingerprint: str, response: dict[str, Any], at: datetime
    ) -> None:
        self.added.append((owner, key))
        self._uow.staged.idempotency[(owner, key)] = (fingerprint, response)


class FakeCreditStandings:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    async def get(self, credit_code: str, *, for_update: bool = False) -> CreditStanding | None:
        return self._uow.staged.credit.get(credit_code)

    async def put(self, standing: CreditStanding, *, at: datetime) -> None:
        self._uow.staged.credit[standing.credit_code] = standing


class FakeUnitOfWork:
    def __init__(self, store: Store | None = None) -> None:
        self.store = store or Store()
        self.staged = copy.deepcopy(self.store)
        self.projects = FakeProjects(self)
        self.sequences = FakeSequences(self)
        self.idempotency = FakeIdempotencyKeys(self)
        self.credit = FakeCreditStandings(self)
        self.commits = 0
        self.rollbacks = 0
        # Set by a test: runs just before the next commit (another transaction's write).
        self.before_commit: Any = None

    def publish(self, message: Message) -> None:
        self.staged.published.append(message)

    def audit(self, entry: AuditEntry) -> None:
        self.staged.audit.append(entry)

    async def commit(self) -> None:
        if self.before_commit is not None:
            hook, self.before_commit = self.before_commit, None
            hook(self.store)
        for owner_key in self.idempotency.added:
            if owner_key in self.store.idempotency:
                raise CommitConflict(f"duplicate idempotency key {owner_key}")
        self.idempotency.added = []
        self.store.__dict__.update(copy.deepcopy(self.staged).__dict__)
        self.commits += 1

    async def rollback(self) -> None:
        self.staged = copy.deepcopy(self.store)
        self.idempotency.added = []
        self.rollbacks += 1
