"""Reports: the validation rules (pure) and the filing handler (in-memory unit of work)."""

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from shared.events import EventType
from shared.topics import SUPERVISION_ALERTS, SUPERVISION_REPORTS
from supervision_svc import handlers
from supervision_svc.domain.errors import InvalidReport, NotFound
from supervision_svc.domain.reports import NewReport, ReportHistory, report_problems
from supervision_svc.domain.thresholds import DEFAULT_THRESHOLDS as RULES

from supervision_fakes import CODE, CREDIT, T0, FakeStore, FakeUnitOfWork, project_data

TODAY = date(2025, 6, 1)
STARTED = ReportHistory(
    project_status="approved",
    started_on=date(2025, 5, 1),
    last_report_on=date(2025, 5, 20),
    progress=Decimal(40),
    invested=Decimal(1000),
)


def _fields(report, history=STARTED):
    return {p.field for p in report_problems(report, history, today=TODAY)}


def _progress(**over):
    return replace(
        NewReport(kind="progress", report_date=TODAY, progress_percent=Decimal(50)), **over
    )


def test_a_good_progress_report_passes():
    assert _fields(_progress()) == set()


@pytest.mark.parametrize(
    ("report", "history", "field"),
    [
        (_progress(progress_percent=Decimal(30)), STARTED, "progress_percent"),
        (_progress(invested_to_date=Decimal(999)), STARTED, "invested_to_date"),
        (_progress(report_date=date(2025, 5, 19)), STARTED, "report_date"),
        (_progress(report_date=date(2025, 6, 2)), STARTED, "report_date"),  # future
        (NewReport(kind="start", report_date=TODAY), STARTED, "kind"),  # a second start
        (_progress(), ReportHistory(project_status="approved"), "kind"),  # no start yet
        (_progress(planned_completion=date(2026, 1, 1)), STARTED, "planned_completion"),
        (
            NewReport(kind="completion", report_date=TODAY, progress_percent=Decimal(90)),
            STARTED,
            "progress_percent",
        ),
        (_progress(), replace(STARTED, completed_on=date(2025, 5, 30)), "kind"),
        (_progress(), replace(STARTED, project_status="withdrawn"), "project_code"),
        (NewReport(kind="progress", report_date=TODAY), STARTED, "progress_percent"),
        (
            NewReport(kind="start", report_date=TODAY, planned_completion=date(2025, 1, 1)),
            ReportHistory(project_status="approved"),
            "planned_completion",
        ),
    ],
)
def test_each_rule_names_its_field(report, history, field):
    assert field in _fields(report, history)


# --- the handler -------------------------------------------------------------------------------

NOW = datetime.combine(TODAY, datetime.min.time(), tzinfo=T0.tzinfo) + timedelta(hours=9)


async def _filed(store, status, report, credit=CREDIT):
    async with FakeUnitOfWork(store) as uow:
        await handlers.project_changed(
            uow, project=project_data(status=status), version=T0, now=T0, rules=RULES
        )
        await uow.commit()
    async with FakeUnitOfWork(store) as uow:
        command = handlers.FileReport(project_code=CODE, credit_code=credit, report=report)
        filed = await handlers.file_report(uow, command=command, now=NOW, rules=RULES)
        await uow.commit()
    return filed


async def test_a_start_report_is_stored_and_published():
    store = FakeStore()
    start = NewReport(kind="start", report_date=TODAY, planned_completion=date(2026, 6, 1))
    report = await _filed(store, "approved", start)

    [published] = [p for p in store.published if p.topic == SUPERVISION_REPORTS]
    assert (published.key, published.event.type) == (CODE, EventType.REPORT_FILED)
    assert published.event.data["planned_completion"] == "2026-06-01"
    assert store.reports.rows == [report]
    row = store.projects.rows[CODE]
    assert (row.started_on, row.reported_progress, row.started_before_approval) == (
        TODAY,
        Decimal(0),
        False,
    )
    assert row.next_check_at is not None  # progress_missing's timer


async def test_a_start_before_approval_is_red_at_once_and_leaves_a_serious_record():
    store = FakeStore()
    await _filed(store, "in_review", NewReport(kind="start", report_date=TODAY))

    [alert] = store.alerts.open()
    assert (alert.kind, alert.level) == ("started_before_approval", "red")
    [record] = store.credit.records.values()
    assert (record.severity, record.alert_id, record.credit_code) == (
        "serious",
        alert.alert_id,
        CREDIT,
    )
    assert store.credit.states[CREDIT].status == "abnormal"
    types = [p.event.type for p in store.published if p.topic == SUPERVISION_ALERTS]
    assert types == [
        EventType.ALERT_RAISED,
        EventType.CREDIT_RECORD_ADDED,
        EventType.CREDIT_STATUS_CHANGED,
    ]
    changed = store.published[-1]
    assert (changed.key, changed.event.subject) == (CREDIT, CREDIT)
    assert changed.event.data["previous_status"] == "normal"


async def test_another_enterprise_gets_not_found_and_nothing_changes():
    store = FakeStore()
    with pytest.raises(NotFound):
        await _filed(store, "approved", NewReport(kind="start", report_date=TODAY), credit="X")
    assert store.reports.rows == []


async def test_an_invalid_report_changes_nothing():
    store = FakeStore()
    with pytest.raises(InvalidReport) as caught:
        await _filed(store, "approved", _progress())
    assert [p.field for p in caught.value.problems] == ["kind"]
    assert store.reports.rows == []
    assert store.projects.rows[CODE].started_on is None
