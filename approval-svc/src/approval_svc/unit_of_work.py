"""The unit of work the use cases run in: repositories, the outbox and the audit trail, one
transaction.

``UnitOfWork`` is what the handlers see (a protocol: the unit tests give them an in-memory one).
``SqlUnitOfWork`` is the real one, on top of the shared outbox's unit of work; a consumer's batch
runs many use cases in one transaction, so there the unit of work is ``enlisted`` in it: its
``commit`` leaves the commit to the batch (which also records the ids of the events it applied).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError

from approval_svc import models
from approval_svc.domain.audit import AuditEntry
from approval_svc.domain.credit import CreditStanding
from approval_svc.domain.project import Project
from approval_svc.prefetch import Prefetched
from approval_svc.publishing import Message
from approval_svc.registers_repository import (
    SqlCreditStandings,
    SqlIdempotencyKeys,
    SqlSequences,
)
from approval_svc.repository import SqlProjects
from shared.outbox import UnitOfWork as OutboxUnitOfWork


class CommitConflict(Exception):
    """The commit broke a uniqueness rule: another transaction got there first."""


class Projects(Protocol):
    async def get(self, code: str) -> Project | None:
        """The project, locked for the rest of the transaction."""
        ...

    async def get_by_task(self, task_id: str) -> Project | None: ...

    def add(self, project: Project) -> None: ...

    async def save(self, project: Project) -> None: ...

    async def consultations_due(self, now: datetime, limit: int) -> list[str]:
        """Task ids of pending consultations whose reply limit has passed."""
        ...


class Sequences(Protocol):
    async def next_project_serial(self, prefix: str) -> int: ...

    async def next_document_serial(self, department: str, year: int) -> int: ...


class IdempotencyKeys(Protocol):
    async def get(self, owner: str, key: str) -> tuple[str, dict[str, Any]] | None:
        """(fingerprint, first response) of a key already used, else None."""
        ...

    def add(
        self, owner: str, key: str, fingerprint: str, response: dict[str, Any], at: datetime
    ) -> None: ...


class CreditStandings(Protocol):
    async def get(self, credit_code: str, *, for_update: bool = False) -> CreditStanding | None:
        """The enterprise's last known credit status (None: never heard of, i.e. normal)."""
        ...

    async def put(self, standing: CreditStanding, *, at: datetime) -> None: ...


class UnitOfWork(Protocol):
    @property
    def projects(self) -> Projects: ...

    @property
    def sequences(self) -> Sequences: ...

    @property
    def idempotency(self) -> IdempotencyKeys: ...

    @property
    def credit(self) -> CreditStandings: ...

    def publish(self, message: Message) -> None:
        """Send ``message`` if, and once, the transaction commits."""
        ...

    def audit(self, entry: AuditEntry) -> None: ...

    async def commit(self) -> None:
        """Make everything done so far durable; ``CommitConflict`` if a uniqueness rule broke."""
        ...

    async def rollback(self) -> None: ...


class SqlUnitOfWork:
    """One transaction of its own (an HTTP request, a sweep): ``commit`` commits it.

    ``deferred``: repositories that keep changes in memory and write them at commit, for
    the use cases of a consumer batch sharing one transaction (``EnlistedUnitOfWork.of``).
    ``prefetched``: what a submission group read for all of its submissions (``prefetch``).
    """

    def __init__(
        self,
        outbox: OutboxUnitOfWork,
        *,
        deferred: bool = False,
        prefetched: Prefetched | None = None,
    ) -> None:
        self._outbox = outbox
        session = outbox.session
        self.projects = SqlProjects(session, outbox, deferred=deferred)
        self.sequences = SqlSequences(session, outbox, deferred=deferred, prefetched=prefetched)
        self.idempotency = SqlIdempotencyKeys(session, outbox, prefetched=prefetched)
        self.credit = SqlCreditStandings(session, prefetched=prefetched)

    def publish(self, message: Message) -> None:
        self._outbox.emit(message.event, message.topic)

    def audit(self, entry: AuditEntry) -> None:
        self._outbox.add_row(
            models.TimelineEntry,
            {
                "project_code": entry.project_code,
                "at": entry.at,
                "action": entry.action,
                "actor": entry.actor.name,
                "actor_role": entry.actor.role,
                "task_id": entry.task_id,
                "department": entry.department,
                "detail": dict(entry.detail),
                "event_id": entry.event_id,
            },
        )

    async def commit(self) -> None:
        try:
            await self._outbox.commit()
        except IntegrityError as exc:
            raise CommitConflict(str(exc.orig)) from exc

    async def rollback(self) -> None:
        await self._outbox.rollback()


_SHARED_KEY = "approval.unit_of_work"


class EnlistedUnitOfWork(SqlUnitOfWork):
    """A use case inside a consumer batch's transaction: the batch commits (together with the
    ids of the events it applied) or rolls back, event by event if one fails."""

    @classmethod
    def of(cls, batch: OutboxUnitOfWork) -> EnlistedUnitOfWork:
        """The unit of work of a use case in `batch`: while the batch's events are applied
        together, one for all of them (each starts from the projects the ones before read and
        changed, written once at commit); otherwise a fresh one per event."""
        shared = batch.shared
        if shared is None:
            return cls(batch)
        uow = shared.get(_SHARED_KEY)
        if not isinstance(uow, cls):
            uow = shared[_SHARED_KEY] = cls(batch, deferred=True)
        return uow

    async def commit(self) -> None:
        return None

    async def rollback(self) -> None:
        raise RuntimeError("a consumer batch is rolled back by its consumer, not by a use case")
