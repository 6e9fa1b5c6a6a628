"""Deadlines in China working days, across holidays, pauses and years without data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from approval_svc.domain.workdays import WorkCalendar, YearSchedule, fraction_elapsed

SH = ZoneInfo("Asia/Shanghai")


def sh(y, m, d, hh=10, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


def end_of(y, m, d) -> datetime:
    """The exclusive end of a local day, in UTC, as the calendar returns it."""
    return (datetime(y, m, d, tzinfo=SH) + timedelta(days=1)).astimezone(UTC)


@pytest.fixture
def cal() -> WorkCalendar:
    return WorkCalendar()


def test_official_holidays_and_make_up_days(cal):
    assert cal.is_workday(date(2025, 9, 26))  # Friday
    assert not cal.is_workday(date(2025, 9, 27))  # Saturday
    assert cal.is_workday(date(2025, 9, 28))  # Sunday, make-up day for National Day
    assert not cal.is_workday(date(2025, 10, 1))  # National Day, a Wednesday
    assert cal.is_workday(date(2025, 10, 11))  # Saturday, make-up day
    assert not cal.is_workday(date(2026, 2, 16))  # Spring Festival 2026, a Monday
    assert cal.unknown_years == set()


def test_assignment_day_does_not_count_and_result_is_utc(cal):
    due = cal.add_working_days(sh(2025, 9, 26, 16), 1)
    assert due == end_of(2025, 9, 28)  # the next working day is the make-up Sunday
    assert due.tzinfo is not None
    assert due.utcoffset() == timedelta(0)
    assert due.astimezone(SH) == datetime(2025, 9, 29, tzinfo=SH)


def test_working_days_skip_national_day(cal):
    # Thursday 25 Sep 2025: 26 (Fri), 28 (make-up Sun), 29, 30, then 1-8 Oct off, 9 Oct = 5th.
    assert cal.add_working_days(sh(2025, 9, 25), 5) == end_of(2025, 10, 9)


def test_zero_days_ends_with_the_start_day(cal):
    assert cal.add_working_days(sh(2025, 9, 27), 0) == end_of(2025, 9, 27)
    with pytest.raises(ValueError, match="negative"):
        cal.add_working_days(sh(2025, 9, 27), -1)


def test_start_date_is_taken_in_china_time(cal):
    # 17:00 UTC on Sunday 2 Mar 2025 is already Monday 01:00 in Beijing.
    start = datetime(2025, 3, 2, 17, 0, tzinfo=UTC)
    assert cal.add_working_days(start, 1) == end_of(2025, 3, 4)
    assert cal.add_calendar_days(start, 1) == end_of(2025, 3, 4)


def test_calendar_days_count_holidays(cal):
    assert cal.add_calendar_days(sh(2025, 9, 30), 7) == end_of(2025, 10, 7)
    assert cal.deadline(sh(2025, 9, 30), 7, "calendar") == end_of(2025, 10, 7)
    assert cal.deadline(sh(2025, 9, 25), 5, "working") == end_of(2025, 10, 9)


def test_naive_datetimes_are_refused(cal):
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.add_working_days(datetime(2025, 1, 1), 3)


def test_unknown_day_kind_is_refused(cal):
    with pytest.raises(ValueError, match="day_kind"):
        cal.deadline(sh(2025, 1, 1), 3, "lunar")  # type: ignore[arg-type]


def test_limit_from_december_2026_into_2027_counts_weekends_only_and_warns():
    seen: list[int] = []
    cal = WorkCalendar(on_unknown_year=seen.append)
    # Tue 15 Dec 2026 + 20 working days: 12 left in December (16-18, 21-25, 28-31), then
    # with no 2027 schedule: Fri 1 Jan (13), 4-8 Jan (18), 11 Jan (19), 12 Jan (20).
    due = cal.add_working_days(sh(2026, 12, 15), 20)
    assert due == end_of(2027, 1, 12)
    assert cal.unknown_years == {2027}
    assert seen == [2027]
    cal.add_working_days(sh(2026, 12, 20), 30)
    assert seen == [2027]  # reported once per year, not once per day


def test_published_extra_year_is_used_after_the_library_runs_out():
    schedule = YearSchedule(holidays=frozenset({date(2027, 1, 1)}))
    cal = WorkCalendar({2027: schedule})
    assert cal.add_working_days(sh(2026, 12, 15), 20) == end_of(2027, 1, 13)
    assert cal.unknown_years == set()


def test_library_years_take_precedence_over_extra_years():
    # A catalogue entry for a year the library knows must not override the official data.
    bogus = YearSchedule(holidays=frozenset({date(2025, 9, 26)}))
    assert WorkCalendar({2025: bogus}).is_workday(date(2025, 9, 26))


def test_far_future_and_far_past_never_crash():
    cal = WorkCalendar()
    assert cal.is_workday(date(2100, 3, 1))  # a Monday
    assert not cal.is_workday(date(2100, 3, 6))  # a Saturday
    assert cal.is_workday(date(2003, 1, 2))  # before the library's data, a Thursday
    assert cal.unknown_years == {2100, 2003}
    assert cal.add_working_days(sh(2099, 12, 30), 250).year == 2100


def test_days_between_counts_days_after_start_up_to_end(cal):
    # Monday 10:00 to Wednesday 09:00: Tuesday and Wednesday.
    assert cal.days_between(sh(2025, 3, 3, 10), sh(2025, 3, 5, 9), "working") == 2
    assert cal.days_between(sh(2025, 3, 3, 10), sh(2025, 3, 3, 18), "working") == 0
    assert cal.days_between(sh(2025, 3, 5), sh(2025, 3, 3), "working") == 0
    # Friday to Monday: the weekend does not count as working days, it does as calendar days.
    assert cal.days_between(sh(2025, 3, 7), sh(2025, 3, 10), "working") == 1
    assert cal.days_between(sh(2025, 3, 7), sh(2025, 3, 10), "calendar") == 3
    # Across National Day 2025.
    assert cal.days_between(sh(2025, 9, 30), sh(2025, 10, 9), "working") == 1


def test_pause_extends_the_deadline(cal):
    assigned = sh(2025, 3, 3, 9)  # Monday
    due = cal.deadline(assigned, 10, "working")
    assert due == end_of(2025, 3, 17)
    paused = cal.days_between(sh(2025, 3, 5, 15), sh(2025, 3, 11, 9), "working")
    assert paused == 4  # Thu, Fri, Mon, Tue
    assert cal.extend(due, paused, "working") == end_of(2025, 3, 21)
    assert cal.extend(due, 0, "working") == due
    with pytest.raises(ValueError, match="negative"):
        cal.extend(due, -1, "working")


def test_extend_across_the_year_end_without_data():
    cal = WorkCalendar()
    due = cal.deadline(sh(2026, 12, 1), 20, "working")
    assert due.astimezone(SH).year == 2026
    assert cal.extend(due, 10, "working").astimezone(SH).year == 2027
    assert 2027 in cal.unknown_years


_starts = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2027, 6, 30), timezones=st.just(SH)
)


@settings(deadline=None)  # walks up to ~160 days per example; timing is not the point
@given(start=_starts, n=st.integers(0, 80), k=st.integers(0, 30))
def test_deadline_extend_and_count_agree(start, n, k):
    cal = WorkCalendar()
    for kind in ("working", "calendar"):
        due = cal.deadline(start, n, kind)
        # The deadline is the end of the n-th counted day: exactly n counted days lie within.
        assert cal.days_between(start, due - timedelta(microseconds=1), kind) == n
        assert cal.extend(due, k, kind) == cal.deadline(start, n + k, kind)
        local = due.astimezone(SH)
        assert (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0)
        if n > 0 and kind == "working":
            assert cal.is_workday((due - timedelta(microseconds=1)).astimezone(SH).date())


# --- fraction elapsed -------------------------------------------------------------------------


def test_fraction_elapsed():
    a = datetime(2025, 3, 3, tzinfo=UTC)
    due = a + timedelta(days=10)
    assert fraction_elapsed(a, due, a) == 0.0
    assert fraction_elapsed(a, due, a + timedelta(days=9)) == pytest.approx(0.9)
    assert fraction_elapsed(a, due, due) == pytest.approx(1.0)
    assert fraction_elapsed(a, due, a + timedelta(days=12)) == pytest.approx(1.2)
    assert fraction_elapsed(a, due, a - timedelta(days=1)) == 0.0


def test_fraction_elapsed_excludes_paused_time():
    a = datetime(2025, 3, 3, tzinfo=UTC)
    due = a + timedelta(days=12)  # 10 days of limit, extended by a 2-day pause
    two_days = timedelta(days=2).total_seconds()
    assert fraction_elapsed(a, due, a + timedelta(days=11), two_days) == pytest.approx(0.9)
    assert fraction_elapsed(a, due, due, two_days) == pytest.approx(1.0)


def test_fraction_elapsed_degenerate_span():
    a = datetime(2025, 3, 3, tzinfo=UTC)
    assert fraction_elapsed(a, a, a) == 1.0
    assert fraction_elapsed(a, a, a - timedelta(seconds=1)) == 0.0
    with pytest.raises(ValueError, match="timezone-aware"):
        fraction_elapsed(datetime(2025, 3, 3), a, a)
