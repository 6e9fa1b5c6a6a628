"""The time limits of one task: deadlines at assignment, the pause, the extension on resume.

Rules (domain.md): a task's legal and promised limits count days of its matter's ``day_kind``
from the assignment (``workdays`` fixes how days are counted); a consulted department that
stays silent for ``CONSULTATION_REPLY_DAYS`` working days is deemed to consent; while a task
waits for the enterprise's supplement its clock stops, and the days it waited are given back to
every deadline when the enterprise answers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from approval_svc.domain.workdays import DayKind, WorkCalendar

CONSULTATION_REPLY_DAYS = 7  # working days of silence that count as consent


@dataclass(frozen=True, slots=True)
class TimeLimits:
    day_kind: DayKind
    legal_limit_days: int
    promised_limit_days: int
    assigned_at: datetime
    due_at: datetime
    promised_due_at: datetime
    # When a consulted department's silence becomes consent (consultative matters only).
    reply_due_at: datetime | None = None
    paused_days: int = 0
    paused_at: datetime | None = None  # set while the task waits for a supplement

    @classmethod
    def assign(
        cls,
        *,
        day_kind: DayKind,
        legal_limit: int,
        promised_limit: int,
        consultative: bool,
        at: datetime,
        calendar: WorkCalendar,
    ) -> TimeLimits:
        """The deadlines of a task assigned at ``at``."""
        return cls(
            day_kind=day_kind,
            legal_limit_days=legal_limit,
            promised_limit_days=promised_limit,
            assigned_at=at,
            due_at=calendar.deadline(at, legal_limit, day_kind),
            promised_due_at=calendar.deadline(at, promised_limit, day_kind),
            reply_due_at=calendar.deadline(at, CONSULTATION_REPLY_DAYS, "working")
            if consultative
            else None,
        )

    def pause(self, at: datetime) -> TimeLimits:
        """The clock stops until the enterprise supplements."""
        return replace(self, paused_at=at)

    def resume(self, at: datetime, calendar: WorkCalendar) -> TimeLimits:
        """The clock runs again; the waiting time does not count: every deadline moves by the
        days of ``day_kind`` it waited (the reply limit by as many working days)."""
        if self.paused_at is None:
            return self
        waited = calendar.days_between(self.paused_at, at, self.day_kind)
        return replace(
            self,
            paused_days=self.paused_days + waited,
            due_at=calendar.extend(self.due_at, waited, self.day_kind),
            promised_due_at=calendar.extend(self.promised_due_at, waited, self.day_kind),
            reply_due_at=None
            if self.reply_due_at is None
            else calendar.extend(self.reply_due_at, waited, "working"),
            paused_at=None,
        )

    def reply_overdue(self, now: datetime) -> bool:
        """The consultation's reply limit has passed (``now`` at or after it)."""
        return self.reply_due_at is not None and self.reply_due_at <= now
