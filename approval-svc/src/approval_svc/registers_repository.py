"""SQL registers behind approval's unit of work: serials (project codes, document numbers),
Idempotency-Key records and the credit standings approval has heard of.

Each also answers for many at once (``take_project_serials``, ``get_many``): a submission group
asks them once for all of its submissions (see ``prefetch``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, bindparam, select, tuple_, update
from sqlmodel.ext.asyncio.session import AsyncSession

from approval_svc import models
from approval_svc.domain.credit import CreditStanding, CreditStatus
from shared.db import insert_with_conflict, table_of
from shared.outbox import UnitOfWork as OutboxUnitOfWork

if TYPE_CHECKING:
    from approval_svc.prefetch import Prefetched

IDEMPOTENCY = table_of(models.IdempotencyRecord)
CREDIT = table_of(models.CreditStanding)


def upsert_into(session: AsyncSession) -> Any:
    return insert_with_conflict(session.get_bind().dialect.name)


class SqlSequences:
    """Serials handed out atomically (one upsert-returning statement each).

    Two processes asking at once queue on the row (PostgreSQL row lock, SQLite write lock), so
    a serial is never handed out twice, and never reused either: a rollback takes the row
    update back with it.

    ``deferred`` (one consumer batch, one transaction): the first document serial of a
    department and year is taken with the upsert, which locks its row until the commit; the
    following ones are counted on from it here and the row is set to the last one at commit.
    The whole batch commits or rolls back together, so the row and the numbers agree.
    """

    def __init__(
        self,
        session: AsyncSession,
        outbox: OutboxUnitOfWork,
        *,
        deferred: bool = False,
        prefetched: Prefetched | None = None,
    ) -> None:
        self._session = session
        self._outbox = outbox
        self._deferred = deferred
        self._prefetched = prefetched  # a submission group's serials, taken in advance
        self._documents: dict[tuple[str, int], int] = {}  # last serial handed out, per row
        self._unwritten: set[tuple[str, int]] = set()

    async def next_project_serial(self, prefix: str) -> int:
        if self._prefetched is not None:
            serial = self._prefetched.next_serial(prefix)
            if serial is not None:
                return serial
        stmt = (
            upsert_into(self._session)(models.CodeSequence)
            .values(prefix=prefix, last_serial=1)
            .on_conflict_do_update(
                index_elements=["prefix"],
                set_={"last_serial": models.CodeSequence.last_serial + 1},
            )
            .returning(models.CodeSequence.last_serial)
        )
        return int((await self._session.execute(stmt)).scalar_one())

    async def take_project_serials(self, needed: Mapping[str, int]) -> dict[str, deque[int]]:
        """`needed[prefix]` serials of each prefix in one upsert (``last + n``, returning the
        last), in prefix order so that two transactions on PostgreSQL lock rows in one order."""
        insert = upsert_into(self._session)(models.CodeSequence).values(
            [{"prefix": p, "last_serial": n} for p, n in sorted(needed.items())]
        )
        stmt = insert.on_conflict_do_update(
            index_elements=["prefix"],
            set_={"last_serial": models.CodeSequence.last_serial + insert.excluded.last_serial},
        ).returning(models.CodeSequence.prefix, models.CodeSequence.last_serial)
        taken: dict[str, deque[int]] = {}
        for prefix, last in (await self._session.execute(stmt)).all():
            count = needed[prefix]
            taken[prefix] = deque(range(int(last) - count + 1, int(last) + 1))
        return taken

    async def next_document_serial(self, department: str, year: int) -> int:
        key = (department, year)
        if self._deferred and key in self._documents:
            self._documents[key] += 1
            if not self._unwritten:
                self._outbox.before_flush(self._write_documents)
            self._unwritten.add(key)
            return self._documents[key]
        stmt = (
            upsert_into(self._session)(models.DocumentSequence)
            .values(department=department, year=year, last_serial=1)
            .on_conflict_do_update(
                index_elements=["department", "year"],
                set_={"last_serial": models.DocumentSequence.last_serial + 1},
            )
            .returning(models.DocumentSequence.last_serial)
        )
        serial = int((await self._session.execute(stmt)).scalar_one())
        if self._deferred:
            self._documents[key] = serial
        return serial

    async def _write_documents(self) -> None:
        keys, self._unwritten = sorted(self._unwritten), set()
        table = table_of(models.DocumentSequence)
        await self._session.execute(
            update(table)
            .where(table.c.department == bindparam("key_department"))
            .where(table.c.year == bindparam("key_year"))
            .values(last_serial=bindparam("serial")),
            [
                {"key_department": d, "key_year": y, "serial": self._documents[(d, y)]}
                for d, y in keys
            ],
        )


class SqlIdempotencyKeys:
    def __init__(
        self,
        session: AsyncSession,
        outbox: OutboxUnitOfWork,
        *,
        prefetched: Prefetched | None = None,
    ) -> None:
        self._session = session
        self._outbox = outbox
        self._prefetched = prefetched

    async def get(self, owner: str, key: str) -> tuple[str, dict[str, Any]] | None:
        """(fingerprint, first response) of a key already used, else None."""
        if self._prefetched is not None:
            known, used = self._prefetched.key_use(owner, key)
            if known:
                return used
        return (await self.get_many([(owner, key)]))[(owner, key)]

    async def get_many(
        self, keys: Collection[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[str, dict[str, Any]] | None]:
        """`get` of each (owner, key) in one query."""
        found: dict[tuple[str, str], tuple[str, dict[str, Any]] | None] = dict.fromkeys(keys)
        if found:
            rows = await self._session.execute(
                select(
                    IDEMPOTENCY.c.owner,
                    IDEMPOTENCY.c.key,
                    IDEMPOTENCY.c.request_hash,
                    IDEMPOTENCY.c.response,
                ).where(tuple_(IDEMPOTENCY.c.owner, IDEMPOTENCY.c.key).in_(sorted(found)))
            )
            for r in rows:
                found[(r.owner, r.key)] = (r.request_hash, r.response)
        return found

    def add(
        self, owner: str, key: str, fingerprint: str, response: dict[str, Any], at: datetime
    ) -> None:
        """Inserted at commit: a concurrent request with the same key makes the commit fail."""
        self._outbox.add_row(
            models.IdempotencyRecord,
            {
                "owner": owner,
                "key": key,
                "request_hash": fingerprint,
                "status_code": 201,
                "response": response,
                "created_at": at,
            },
        )


class SqlCreditStandings:
    """The credit statuses this service has heard of (``models.CreditStanding`` rows)."""

    def __init__(self, session: AsyncSession, *, prefetched: Prefetched | None = None) -> None:
        self._session = session
        self._prefetched = prefetched

    async def get(self, credit_code: str, *, for_update: bool = False) -> CreditStanding | None:
        if (
            not for_update
            and self._prefetched is not None
            and credit_code in self._prefetched.credit
        ):
            return self._prefetched.credit[credit_code]
        query = self._select().where(CREDIT.c.credit_code == credit_code)
        row = (
            await self._session.execute(query.with_for_update() if for_update else query)
        ).first()
        return None if row is None else _standing(row)

    async def get_many(self, credit_codes: Collection[str]) -> dict[str, CreditStanding | None]:
        """`get` of each code in one query."""
        found: dict[str, CreditStanding | None] = dict.fromkeys(credit_codes)
        if found:
            rows = await self._session.execute(
                self._select().where(CREDIT.c.credit_code.in_(sorted(found)))
            )
            for row in rows:
                found[row.credit_code] = _standing(row)
        return found

    @staticmethod
    def _select() -> Select[Any]:
        return select(CREDIT.c.credit_code, CREDIT.c.status, CREDIT.c.changed_at)

    async def put(self, standing: CreditStanding, *, at: datetime) -> None:
        values = {
            "credit_code": standing.credit_code,
            "status": standing.status.value,
            "changed_at": standing.changed_at,
            "updated_at": at,
        }
        stmt = (
            upsert_into(self._session)(models.CreditStanding)
            .values(**values)
            .on_conflict_do_update(
                index_elements=["credit_code"],
                set_={k: v for k, v in values.items() if k != "credit_code"},
            )
        )
        await self._session.execute(stmt)


def _standing(row: Any) -> CreditStanding:
    return CreditStanding(row.credit_code, CreditStatus(row.status), row.changed_at)
