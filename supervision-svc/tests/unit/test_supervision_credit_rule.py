"""The credit status rule (pure): normal, abnormal, dishonest, and when time changes it."""

from datetime import UTC, datetime, timedelta

import pytest

from supervision_svc.domain.credit import RecordFacts, credit_status, next_change_at, severity_of

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def _r(severity, days_ago=1, corrected=False):
    return RecordFacts(severity, NOW - timedelta(days=days_ago), corrected=corrected)


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        ([], "normal"),
        ([_r("ordinary")], "normal"),
        ([_r("ordinary"), _r("ordinary")], "abnormal"),
        ([_r("ordinary"), _r("ordinary", 400)], "normal"),  # one is older than 12 months
        ([_r("ordinary"), _r("ordinary", corrected=True)], "normal"),
        ([_r("serious")], "abnormal"),
        ([_r("serious", corrected=True)], "normal"),
        ([_r("serious"), _r("serious")], "dishonest"),
        ([_r("serious", 90)], "dishonest"),  # uncorrected for 90 days
        ([_r("serious", 89)], "abnormal"),
        ([_r("serious", 500)], "dishonest"),  # serious records do not age out
    ],
)
def test_status(records, expected):
    assert credit_status(records, now=NOW) == expected


def test_next_change_is_the_earliest_instant_time_alone_changes_it():
    records = [_r("serious", 10), _r("ordinary", 300), _r("ordinary", 5, corrected=True)]
    assert next_change_at(records, now=NOW) == NOW + timedelta(days=65)  # ordinary leaves window
    assert next_change_at([_r("serious", 100)], now=NOW) is None  # already dishonest for good


def test_which_alert_leaves_which_record():
    assert severity_of("started_before_approval") == "serious"
    assert {severity_of(k) for k in ("start_overdue", "progress_missing", "progress_behind")} == {
        "ordinary"
    }
    assert severity_of("approval_overdue") is None
