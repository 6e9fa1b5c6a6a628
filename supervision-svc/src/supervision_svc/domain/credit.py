"""The credit status rule (pure): records in, status out.

Red alerts of the construction rules leave credit records: `started_before_approval` a
serious one, `start_overdue`, `progress_missing` and `progress_behind` an ordinary one
(`approval_overdue` is the department's lateness, not the enterprise's: none). Only
uncorrected records count:

* `dishonest`: two or more serious records, or one serious record left uncorrected for 90 days;
* `abnormal`: two or more ordinary records created in the last 12 months, or one serious record;
* `normal` otherwise.

Numbers come from `Thresholds`. Time alone changes a status (a serious record turns 90 days
old, an ordinary one leaves the 12-month window): `next_change_at` says when to look again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from supervision_svc.domain.alerts import (
    PROGRESS_BEHIND,
    PROGRESS_MISSING,
    START_OVERDUE,
    STARTED_BEFORE_APPROVAL,
    earliest,
)
from supervision_svc.domain.thresholds import DEFAULT_THRESHOLDS, Thresholds

Severity = Literal["ordinary", "serious"]
CreditStatus = Literal["normal", "abnormal", "dishonest"]

_SEVERITY: dict[str, Severity] = {
    STARTED_BEFORE_APPROVAL: "serious",
    START_OVERDUE: "ordinary",
    PROGRESS_MISSING: "ordinary",
    PROGRESS_BEHIND: "ordinary",
}


def severity_of(kind: str) -> Severity | None:
    """The record a red alert of `kind` leaves (None: none)."""
    return _SEVERITY.get(kind)


@dataclass(frozen=True, slots=True)
class RecordFacts:
    severity: str
    created_at: datetime
    corrected: bool = False


def credit_status(
    records: Sequence[RecordFacts], *, now: datetime, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> CreditStatus:
    live = [r for r in records if not r.corrected]
    serious = [r for r in live if r.severity == "serious"]
    window_start = now - timedelta(days=thresholds.ordinary_window_days)
    ordinary = [r for r in live if r.severity == "ordinary" and r.created_at > window_start]
    long_uncorrected = now - timedelta(days=thresholds.dishonest_serious_uncorrected_days)
    if len(serious) >= thresholds.dishonest_serious_records or any(
        r.created_at <= long_uncorrected for r in serious
    ):
        return "dishonest"
    if (
        len(serious) >= thresholds.abnormal_serious_records
        or len(ordinary) >= thresholds.abnormal_ordinary_records
    ):
        return "abnormal"
    return "normal"


def next_change_at(
    records: Sequence[RecordFacts], *, now: datetime, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> datetime | None:
    """The next instant at which time alone may change the status (None: never)."""
    instants: list[datetime | None] = []
    for record in records:
        if record.corrected:
            continue
        if record.severity == "serious":
            at = record.created_at + timedelta(days=thresholds.dishonest_serious_uncorrected_days)
        else:
            at = record.created_at + timedelta(days=thresholds.ordinary_window_days)
        if at > now:
            instants.append(at)
    return earliest(*instants)
