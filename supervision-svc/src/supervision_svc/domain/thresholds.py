"""Thresholds of the supervision rules and of the credit status rule (values, no I/O).

The values the service runs with come from a data file (`data/rules.yaml`, loaded and
validated by `supervision_svc.rules_file` at start); the defaults here are the same numbers,
for the unit tests. A "month" of the rules counts `month_days` platform days.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Thresholds:
    # approval_overdue: yellow card at this share of a task's time limit, red past it.
    approval_yellow_ratio: float = 0.9
    # start_overdue: yellow once the planned start month has passed without a start report
    # (or, with no planned start, this many days after approval or filing); red this many
    # days after the yellow.
    start_grace_days: int = 30
    start_red_after_days: int = 90
    # progress_missing: no report this many days after the last one (or the start).
    progress_missing_yellow_days: int = 30
    progress_missing_red_days: int = 60
    # progress_behind: points behind the linear plan (yellow from, red above).
    behind_yellow_points: float = 10.0
    behind_red_points: float = 30.0
    # credit status rule
    abnormal_ordinary_records: int = 2
    ordinary_window_days: int = 365
    abnormal_serious_records: int = 1
    dishonest_serious_records: int = 2
    dishonest_serious_uncorrected_days: int = 90


DEFAULT_THRESHOLDS = Thresholds()
