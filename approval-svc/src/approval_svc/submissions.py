"""Group commit of concurrent submissions: the requests that arrive together share one
transaction.

Every submission writes a handful of rows (the project, its tasks, the outbox events, the
timeline, the idempotency record) and commits. Alone, each pays for its own transaction: on
SQLite the one writer connection is taken, begun, committed and handed on once per request,
and every step waits its turn on a busy event loop, so the writer is held far longer than the
work takes and the decision consumer queues behind every request. Grouped, the requests that
queued while the previous group was being committed run in one transaction, and their new
rows go out as one executemany per table. What each would have asked the database on its
own (its Idempotency-Key, its enterprise's credit status, its serial) is read once for the
whole group (``prefetch``).

Nothing changes for a caller: each request gets its own answer or its own domain error. A
submission writes nothing before its checks pass (the Idempotency-Key replay and the credit
admission come first, and its rows are only buffered until the commit), so a domain error
drops that submission's buffered rows and leaves the others be; no savepoint is needed (one
would cost two more statements per request). Were a domain error ever raised after the
project serial was taken, that serial would stay consumed: a gap in the codes, never a
reuse. If the
group's commit fails (two requests in one group with the same Idempotency-Key, or a
concurrent retry committed first), every submission of the group is run again on its own, as
if it had never been grouped; the outcome is then exactly the one-request-one-transaction one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from approval_svc import handlers
from approval_svc.domain.catalogue import Catalogue
from approval_svc.domain.commands import SubmitProject
from approval_svc.domain.errors import DomainError
from approval_svc.domain.workdays import CHINA_TZ, WorkCalendar
from approval_svc.metrics import SUBMISSION_GROUP_SIZE
from approval_svc.prefetch import Prefetched, prefetch
from approval_svc.unit_of_work import EnlistedUnitOfWork, SqlUnitOfWork
from shared.clock import Clock
from shared.outbox import UnitOfWork as OutboxUnitOfWork

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Pending:
    command: SubmitProject
    answer: asyncio.Future[handlers.Submitted]


class SubmissionGroups:
    """Runs ``handlers.submit_project`` for concurrent requests in shared transactions.

    ``submit`` queues a command and waits for its answer; one worker takes everything queued
    (up to ``max_group``) whenever it is free. Start it with ``run`` as a background job.
    """

    def __init__(
        self,
        *,
        uow: Callable[[], AbstractAsyncContextManager[OutboxUnitOfWork]],
        catalogue: Catalogue,
        calendar: WorkCalendar,
        clock: Clock,
        max_group: int = 64,
    ) -> None:
        self._uow = uow
        self._catalogue = catalogue
        self._calendar = calendar
        self._clock = clock
        self._max_group = max_group
        self._queue: list[_Pending] = []
        self._ready = asyncio.Event()

    async def submit(self, command: SubmitProject) -> handlers.Submitted:
        answer: asyncio.Future[handlers.Submitted] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(command, answer))
        self._ready.set()
        # Shielded: a client that goes away does not take its submission out of a group
        # half-way; it is committed or refused like any other.
        return await asyncio.shield(answer)

    async def run(self) -> None:
        """The worker: one group at a time, for the life of the app."""
        try:
            while True:
                await self._ready.wait()
                group = self._queue[: self._max_group]
                del self._queue[: self._max_group]
                if not self._queue:
                    self._ready.clear()
                if group:
                    await self._commit_group(group)
        finally:
            # Stopping: what is still queued was never begun; its requests are told so.
            queued, self._queue = self._queue, []
            for pending in queued:
                if not pending.answer.done():
                    pending.answer.set_exception(RuntimeError("the service is stopping"))

    async def _commit_group(self, group: list[_Pending]) -> None:
        SUBMISSION_GROUP_SIZE.observe(len(group))
        if len(group) == 1:
            await self._alone(group[0])
            return
        outcomes: list[handlers.Submitted | DomainError] = []
        try:
            async with self._uow() as outbox:
                # One read of the group's keys and credit statuses, one take of its serials.
                month = self._clock.now().astimezone(CHINA_TZ).date()
                known = await prefetch(outbox, [p.command for p in group], month=month)
                for pending in group:
                    outcomes.append(await self._in_group(outbox, pending.command, known))
                await outbox.commit()
        except asyncio.CancelledError:
            for pending in group:
                if not pending.answer.done():
                    pending.answer.cancel()
            raise
        except Exception:
            # A uniqueness conflict at commit (or the database away): nothing of the group
            # was committed. Each submission again on its own decides who gets what.
            log.debug("submission group of %d failed; one by one", len(group), exc_info=True)
            for pending in group:
                await self._alone(pending)
            return
        for pending, outcome in zip(group, outcomes, strict=True):
            if isinstance(outcome, DomainError):
                pending.answer.set_exception(outcome)
            else:
                pending.answer.set_result(outcome)

    async def _in_group(
        self, outbox: OutboxUnitOfWork, command: SubmitProject, known: Prefetched
    ) -> handlers.Submitted | DomainError:
        mark = outbox.mark()
        try:
            return await handlers.submit_project(
                command=command,
                uow=EnlistedUnitOfWork(outbox, prefetched=known),
                catalogue=self._catalogue,
                calendar=self._calendar,
                clock=self._clock,
            )
        except DomainError as exc:
            outbox.forget_since(mark)  # its buffered rows are not written
            return exc

    async def _alone(self, pending: _Pending) -> None:
        try:
            async with self._uow() as outbox:
                submitted = await handlers.submit_project(
                    command=pending.command,
                    uow=SqlUnitOfWork(outbox),
                    catalogue=self._catalogue,
                    calendar=self._calendar,
                    clock=self._clock,
                )
        except asyncio.CancelledError:
            pending.answer.cancel()
            raise
        except Exception as exc:  # the request's own error, raised in its route
            with contextlib.suppress(asyncio.InvalidStateError):
                pending.answer.set_exception(exc)
            return
        with contextlib.suppress(asyncio.InvalidStateError):
            pending.answer.set_result(submitted)
