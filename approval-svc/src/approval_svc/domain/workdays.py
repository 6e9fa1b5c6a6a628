"""Working-day arithmetic for time limits, in China time.

Conventions (they matter for audits, so they are fixed here and nowhere else):

* Every calculation happens on the local date in ``Asia/Shanghai``; inputs must be aware datetimes
  and results are aware datetimes in UTC.
* The day of assignment does not count. A limit of ``n`` days ends with the ``n``-th counted day
  after the start date.
* A deadline is an *exclusive* instant: 00:00 local time of the day after the last counted day
  (i.e. the end of that day). A task is overdue when ``now >= due_at``.
* ``working`` days follow the official schedule (public holidays off, make-up working days on);
  ``calendar`` days count every day.

Where the schedule comes from, in order:

1. ``chinese_calendar`` for the years it ships (2004-2026 in 1.11; it raises NotImplementedError
   for any other year, which is caught here);
2. extra years loaded from the catalogue (the State Council publishes each year around December);
3. otherwise weekends only. The year is recorded in ``unknown_years`` and ``on_unknown_year`` is
   called (once per year per calendar) so the service can raise a warning metric. A deadline that
   runs into an unpublished year must still be computable: it is better slightly wrong and flagged
   than a crashed submission.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo

import chinese_calendar

CHINA_TZ = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")

DayKind = Literal["working", "calendar"]
DAY_KINDS: tuple[DayKind, ...] = get_args(DayKind)

_ONE_DAY = timedelta(days=1)
_TINY = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class YearSchedule:
    """One year's official schedule: days off that are not weekends' and weekend workdays."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()  # make-up working days (调休上班)


@dataclass
class WorkCalendar:
    """Answers "is this a working day" and does deadline arithmetic on top of it."""

    extra_years: Mapping[int, YearSchedule] | None = None
    on_unknown_year: Callable[[int], None] | None = None
    unknown_years: set[int] = field(default_factory=set, init=False)
    # year -> whether chinese_calendar knows it; asked once per year because the library signals
    # "unknown" by raising, and exceptions per date would be slow in long loops.
    _library_years: dict[int, bool] = field(default_factory=dict, init=False, repr=False)
    # Deadlines are computed for every task of every submission from a handful of distinct
    # dates: remember the day walks (bounded; a day's answer never changes within a process).
    _walks: dict[tuple[date, int, str], date] = field(default_factory=dict, init=False, repr=False)

    # --- single days ---------------------------------------------------------------------------

    def is_workday(self, d: date) -> bool:
        if self._library_knows(d.year):
            return bool(chinese_calendar.is_workday(d))
        schedule = (self.extra_years or {}).get(d.year)
        if schedule is not None:
            if d in schedule.workdays:
                return True
            if d in schedule.holidays:
                return False
            return d.weekday() < 5
        self._note_unknown(d.year)
        return d.weekday() < 5

    def counts(self, d: date, day_kind: DayKind) -> bool:
        if day_kind == "calendar":
            return True
        if day_kind == "working":
            return self.is_workday(d)
        raise ValueError(f"unknown day_kind {day_kind!r}; expected 'working' or 'calendar'")

    # --- deadlines -----------------------------------------------------------------------------

    def add_working_days(self, start: datetime, n: int) -> datetime:
        return self._add(start, n, "working")

    def add_calendar_days(self, start: datetime, n: int) -> datetime:
        return self._add(start, n, "calendar")

    def deadline(self, start: datetime, limit: int, day_kind: DayKind) -> datetime:
        """Due instant of a limit of ``limit`` days of ``day_kind`` starting at ``start``."""
        return self._add(start, limit, day_kind)

    def days_between(self, start: datetime, end: datetime, day_kind: DayKind) -> int:
        """Counted days d with start.date < d <= end.date (local dates); 0 when end <= start.

        Used for pauses: a pause from Monday 10:00 to Wednesday 09:00 gives back Tuesday and
        Wednesday, matching "the assignment day does not count" for the forward direction.
        """
        first = _local_date(start) + _ONE_DAY
        last = _local_date(end)
        count = 0
        d = first
        while d <= last:
            if self.counts(d, day_kind):
                count += 1
            d += _ONE_DAY
        return count

    def extend(self, due: datetime, days: int, day_kind: DayKind) -> datetime:
        """Push a deadline later by ``days`` counted days (time given back after a pause).

        ``due`` is an exclusive end-of-day instant as produced by ``deadline``; its last covered
        day is the local date just before it, and the result is the end of the ``days``-th counted
        day after that one.
        """
        if days < 0:
            raise ValueError("days must not be negative")
        if days == 0:
            return _require_aware(due)
        last_covered = (_require_aware(due).astimezone(CHINA_TZ) - _TINY).date()
        return self._end_of(self._walk(last_covered, days, day_kind))

    # --- internals -----------------------------------------------------------------------------

    def _add(self, start: datetime, n: int, day_kind: DayKind) -> datetime:
        if n < 0:
            raise ValueError("a time limit must not be negative")
        return self._end_of(self._walk(_local_date(start), n, day_kind))

    def _walk(self, start: date, n: int, day_kind: DayKind) -> date:
        """The n-th counted day strictly after ``start`` (``start`` itself when n == 0)."""
        key = (start, n, day_kind)
        found = self._walks.get(key)
        if found is None:
            if len(self._walks) > 10_000:
                self._walks.clear()
            found = self._walks[key] = self._walk_uncached(start, n, day_kind)
        return found

    def _walk_uncached(self, start: date, n: int, day_kind: DayKind) -> date:
        d = start
        remaining = n
        while remaining > 0:
            d += _ONE_DAY
            if self.counts(d, day_kind):
                remaining -= 1
        return d

    @staticmethod
    def _end_of(d: date) -> datetime:
        # Midnight local of the next day; built from the date, not by adding 24h, so DST-free
        # arithmetic stays correct even if the zone ever changes its rules.
        return datetime.combine(d + _ONE_DAY, time(0), tzinfo=CHINA_TZ).astimezone(UTC)

    def _library_knows(self, year: int) -> bool:
        known = self._library_years.get(year)
        if known is None:
            try:
                chinese_calendar.is_workday(date(year, 1, 1))
                known = True
            except NotImplementedError:
                known = False
            self._library_years[year] = known
        return known

    def _note_unknown(self, year: int) -> None:
        if year in self.unknown_years:
            return
        self.unknown_years.add(year)
        if self.on_unknown_year is not None:
            self.on_unknown_year(year)


def as_day_kind(value: str) -> DayKind:
    """A day kind read from storage; anything else is refused rather than guessed."""
    for kind in DAY_KINDS:
        if value == kind:
            return kind
    raise ValueError(f"unknown day_kind {value!r}; expected one of {DAY_KINDS}")


def fraction_elapsed(
    assigned_at: datetime, due_at: datetime, now: datetime, paused_seconds: float = 0
) -> float:
    """Share of the time limit used up, for the 90 % yellow card (>= 1.0 means overdue).

    ``due_at`` is the current due instant, already extended for pauses; ``paused_seconds`` is the
    wall-clock time the task spent paused. It is removed from both the elapsed time and the whole
    span, because neither the approver's clock nor the limit ran while paused. Wall-clock time is
    used (not working days) so the fraction moves smoothly and a sweep can compare it any time.
    """
    a, d, n = _require_aware(assigned_at), _require_aware(due_at), _require_aware(now)
    total = (d - a).total_seconds() - paused_seconds
    if total <= 0:
        return 1.0 if n >= d else 0.0
    elapsed = (n - a).total_seconds() - paused_seconds
    return max(0.0, elapsed / total)


def _require_aware(dt: datetime) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        # A naive datetime is ambiguous by up to a day here; refuse rather than guess.
        raise ValueError("datetime must be timezone-aware")
    return dt


def _local_date(dt: datetime) -> date:
    return _require_aware(dt).astimezone(CHINA_TZ).date()
