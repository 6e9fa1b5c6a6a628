"""Retention: what a sweep purges, and when the next sweep is due (never spinning at idle)."""

from __future__ import annotations

from datetime import datetime, timedelta

MIN_SWEEP_DELAY_S = 1.0


def cutoff(now: datetime, retention: timedelta) -> datetime:
    """Rows stored before this instant are past their retention."""
    return now - retention


def seconds_until_next_sweep(
    *, oldest: datetime | None, now: datetime, retention: timedelta, max_delay_s: float
) -> float:
    """Seconds until the oldest kept row expires (a new row expires later still): at least
    `MIN_SWEEP_DELAY_S` (a row on the edge is not chased in a loop), at most `max_delay_s`;
    with nothing stored, a whole retention period (or `max_delay_s`)."""
    if oldest is None:
        due = retention.total_seconds()
    else:
        due = (oldest + retention - now).total_seconds()
    return max(MIN_SWEEP_DELAY_S, min(due, max_delay_s))
