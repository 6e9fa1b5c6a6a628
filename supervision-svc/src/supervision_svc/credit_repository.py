"""Where reports, credit records and credit statuses live: protocols and SQL repositories."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from supervision_svc.models import CreditAudit, CreditRecord, CreditState, Report


class ReportRepository(Protocol):
    def add(self, report: Report) -> None: ...


class CreditRepository(Protocol):
    async def add_record(self, record: CreditRecord) -> bool:
        """Store a new record; False when its alert already left one (a replay)."""
        ...

    async def records_of(self, credit_code: str) -> list[CreditRecord]: ...

    async def get_record(self, record_id: str) -> CreditRecord | None: ...

    def update_record(self, record: CreditRecord) -> None: ...

    async def state_of(self, credit_code: str) -> CreditState | None: ...

    def put_state(self, state: CreditState) -> None: ...

    def audit(self, entry: CreditAudit) -> None: ...

    async def due_for_check(self, *, now: datetime, limit: int) -> list[CreditState]:
        """Statuses whose `next_check_at` has come."""
        ...

    async def next_check_at(self) -> datetime | None: ...


class SqlReportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, report: Report) -> None:
        self._session.add(report)


class SqlCreditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_record(self, record: CreditRecord) -> bool:
        # `alert_id` is unique: a replayed escalation cannot leave a second record.
        try:
            async with self._session.begin_nested():
                self._session.add(record)
        except IntegrityError:
            return False
        return True

    async def records_of(self, credit_code: str) -> list[CreditRecord]:
        rows = await self._session.exec(
            select(CreditRecord)
            .where(col(CreditRecord.credit_code) == credit_code)
            .order_by(col(CreditRecord.created_at), col(CreditRecord.record_id))
        )
        return list(rows.all())

    async def get_record(self, record_id: str) -> CreditRecord | None:
        return await self._session.get(CreditRecord, record_id)

    def update_record(self, record: CreditRecord) -> None:
        self._session.add(record)

    async def state_of(self, credit_code: str) -> CreditState | None:
        return await self._session.get(CreditState, credit_code)

    def put_state(self, state: CreditState) -> None:
        self._session.add(state)

    def audit(self, entry: CreditAudit) -> None:
        self._session.add(entry)

    async def due_for_check(self, *, now: datetime, limit: int) -> list[CreditState]:
        rows = await self._session.exec(
            select(CreditState)
            .where(col(CreditState.next_check_at) <= now)
            .order_by(col(CreditState.next_check_at))
            .limit(limit)
        )
        return list(rows.all())

    async def next_check_at(self) -> datetime | None:
        return (await self._session.exec(select(func.min(CreditState.next_check_at)))).one()
