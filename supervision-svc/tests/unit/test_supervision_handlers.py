"""The handlers against an in-memory unit of work: the projection, alerts and the overdue sweep."""

from datetime import timedelta

import pytest

from shared.events import AlertData, EventType
from shared.topics import SUPERVISION_ALERTS
from supervision_svc import handlers
from supervision_svc.domain.alerts import APPROVAL_OVERDUE
from supervision_svc.domain.thresholds import DEFAULT_THRESHOLDS as RULES
from supervision_svc.metrics import ALERTS_RAISED

from supervision_fakes import (
    CODE,
    CREDIT,
    T0,
    FakeStore,
    FakeUnitOfWork,
    approval_event,
    project_data,
    task_data,
)

LATER = T0 + timedelta(minutes=5)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def uow(store) -> FakeUnitOfWork:
    return FakeUnitOfWork(store)


async def _project(uow, project, *, at=T0, cause=None):
    await handlers.project_changed(
        uow, project=project, version=at, now=at, rules=RULES, cause=cause
    )


async def _task(uow, task, *, at=T0, cause=None):
    await handlers.task_changed(uow, task=task, version=at, now=at, rules=RULES, cause=cause)


async def _sweep(store, now, chunk=handlers.SWEEP_CHUNK):
    return await handlers.sweep_approval_overdue(
        uow_factory=lambda: FakeUnitOfWork(store), now=now, rules=RULES, chunk=chunk
    )


def _alert_events(store):
    assert all(p.topic == SUPERVISION_ALERTS for p in store.published)
    return [(p.event.type, p.event.data["level"]) for p in store.published]


# --- projection ------------------------------------------------------------------------------


async def test_a_project_is_projected_with_its_tasks(uow):
    await _project(uow, project_data(task_data("T-1"), task_data("T-2", department="MNR")))

    row = uow.projects.rows[CODE]
    assert (row.credit_code, row.status, row.procedure) == (CREDIT, "in_review", "verification")
    assert row.version_at == T0
    assert row.updated_at == T0  # no updated_at in the data: the event's time
    tasks = uow.tasks.rows
    assert tasks["T-2"].department == "MNR"
    assert tasks["T-1"].yellow_at == T0 + timedelta(days=9)
    assert tasks["T-1"].decision_seconds is None


async def test_a_newer_event_wins_and_an_older_one_is_ignored(uow):
    await _project(uow, project_data(), at=T0)
    await _project(uow, project_data(status="supplement_required"), at=LATER)
    await _project(uow, project_data(status="in_review"), at=T0)  # a late redelivery

    row = uow.projects.rows[CODE]
    assert row.status == "supplement_required"
    assert row.version_at == LATER


async def test_a_final_status_is_never_left(uow):
    await _project(uow, project_data(status="approved"), at=T0)
    await _project(uow, project_data(status="in_review"), at=LATER)
    assert uow.projects.rows[CODE].status == "approved"

    await _task(uow, task_data(status="withdrawn"), at=T0)
    await _task(uow, task_data(status="pending"), at=LATER)
    assert uow.tasks.rows["T-1"].status == "withdrawn"


async def test_a_decision_is_projected_with_its_duration(uow):
    await _task(uow, task_data())
    decided = task_data(status="approved", decision="approved", decided_at=T0 + timedelta(hours=30))

    await _task(uow, decided, at=LATER)

    row = uow.tasks.rows["T-1"]
    assert (row.status, row.decision) == ("approved", "approved")
    assert row.decision_seconds == 30 * 3600


async def test_an_extended_due_date_moves_the_yellow_threshold(uow):
    await _task(uow, task_data())
    extended = T0 + timedelta(days=20)

    await _task(uow, task_data(due_at=extended), at=LATER)

    assert uow.tasks.rows["T-1"].due_at == extended
    assert uow.tasks.rows["T-1"].yellow_at == T0 + timedelta(days=18)


async def test_a_naive_time_in_the_data_is_taken_as_utc(uow):
    naive = T0.replace(tzinfo=None)
    await _task(uow, task_data(assigned_at=naive, due_at=naive + timedelta(days=10)))
    assert uow.tasks.rows["T-1"].assigned_at == T0


async def test_projecting_emits_nothing_while_no_alert_is_open(uow):
    await _project(uow, project_data(task_data(status="approved", decision="approved")))
    assert uow.pending == []


# --- alerts ----------------------------------------------------------------------------------


async def _raise(uow, level="yellow", task_id="T-1", at=T0):
    return await handlers.raise_alert(
        uow,
        subject=handlers.AlertSubject(
            kind=APPROVAL_OVERDUE,
            project_code=CODE,
            credit_code=CREDIT,
            department="MEE",
            task_id=task_id,
        ),
        level=level,
        detail="late",
        now=at,
        rules=RULES,
    )


async def test_raising_an_alert_stores_it_and_emits_its_event(uow):
    before = ALERTS_RAISED.labels(APPROVAL_OVERDUE, "yellow")._value.get()

    alert = await _raise(uow)

    assert alert is not None
    assert uow.alerts.rows[alert.alert_id].resolved_at is None
    [published] = uow.pending
    assert (published.topic, published.key) == (SUPERVISION_ALERTS, CODE)
    assert published.event.type == EventType.ALERT_RAISED
    assert published.event.subject == CODE
    data = AlertData.model_validate(published.event.data)
    assert (data.alert_id, data.level, data.credit_code, data.task_id) == (
        alert.alert_id,
        "yellow",
        CREDIT,
        "T-1",
    )
    assert ALERTS_RAISED.labels(APPROVAL_OVERDUE, "yellow")._value.get() == before + 1


async def test_the_same_alert_is_not_opened_twice(uow):
    assert await _raise(uow) is not None
    assert await _raise(uow) is None
    assert await _raise(uow, level="red") is None  # one per task and kind, whatever the level
    assert len(uow.pending) == 1
    assert uow.stats.get("*", "alerts_open", "approval_overdue:yellow") == 1


async def test_resolving_twice_closes_once(uow):
    alert = await _raise(uow)
    assert await handlers.resolve_alert(uow, alert=alert, now=LATER)
    assert not await handlers.resolve_alert(uow, alert=alert, now=LATER)
    assert [p.event.type for p in uow.pending] == [EventType.ALERT_RAISED, EventType.ALERT_RESOLVED]
    assert uow.pending[-1].event.data["resolved_at"] is not None
    assert await _raise(uow) is not None  # once resolved, it may open again


@pytest.mark.parametrize("status", ["approved", "rejected", "withdrawn", "supplement_required"])
async def test_a_task_that_stops_waiting_resolves_its_alerts(uow, status):
    await _task(uow, task_data())
    await _raise(uow, "red")
    cause = approval_event(EventType.DECISION_RECORDED, task_data(status=status))

    await _task(uow, task_data(status=status), at=LATER, cause=cause)

    assert uow.alerts.open() == []
    assert uow.stats.get("MEE", "alerts_open", "approval_overdue:red") == 0
    resolved = [p.event for p in uow.pending if p.event.type == EventType.ALERT_RESOLVED]
    assert len(resolved) == 1
    assert {e.causationid for e in resolved} == {cause.id}
    assert {e.correlationid for e in resolved} == {cause.correlationid}


async def test_a_task_still_pending_keeps_its_alerts(uow):
    await _task(uow, task_data())
    await _raise(uow)
    await _task(uow, task_data(), at=LATER)
    assert len(uow.alerts.open()) == 1


async def test_a_project_event_resolves_the_alerts_of_its_decided_tasks(uow):
    await _project(uow, project_data(task_data("T-1"), task_data("T-2")))
    await _raise(uow, task_id="T-1")
    await _raise(uow, task_id="T-2")

    decided = task_data("T-1", status="approved", decision="approved", decided_at=LATER)
    await _project(uow, project_data(decided, task_data("T-2")), at=LATER)

    assert [a.task_id for a in uow.alerts.open()] == ["T-2"]


# --- the approval_overdue sweep --------------------------------------------------------------


async def test_nothing_is_raised_before_the_threshold(store, uow):
    await _task(uow, task_data())

    result = await _sweep(store, T0 + timedelta(days=8))

    assert (result.checked, result.raised, result.resolved) == (0, 0, 0)
    assert store.alerts.rows == {}
    assert store.published == []


async def test_yellow_then_red_then_resolved_by_the_decision(store, uow):
    await _project(uow, project_data(task_data()))

    yellow = await _sweep(store, T0 + timedelta(days=9, hours=12))
    again = await _sweep(store, T0 + timedelta(days=9, hours=13))
    red = await _sweep(store, T0 + timedelta(days=11))

    assert (yellow.raised, again.raised, again.escalated) == (1, 0, 0)
    assert (red.raised, red.escalated, red.resolved) == (0, 1, 0)
    [open_alert] = store.alerts.open()
    assert open_alert.escalated_at == T0 + timedelta(days=11)
    assert store.stats.get("MEE", "alerts_open", "approval_overdue:red") == 1  # overdue
    assert store.stats.get("MEE", "alerts_open", "approval_overdue:yellow") == 0
    assert store.credit.records == {}  # lateness of a department: no credit record
    assert (open_alert.level, open_alert.credit_code, open_alert.department) == (
        "red",
        CREDIT,
        "MEE",
    )
    assert "past its time limit" in open_alert.detail

    decided = task_data(status="approved", decision="approved", decided_at=T0 + timedelta(days=11))
    async with FakeUnitOfWork(store) as consumer:
        await _task(consumer, decided, at=T0 + timedelta(days=11))
        await consumer.commit()

    assert store.alerts.open() == []
    assert _alert_events(store) == [
        (EventType.ALERT_RAISED, "yellow"),
        (EventType.ALERT_RAISED, "red"),  # the escalation: the same alert, raised again
        (EventType.ALERT_RESOLVED, "red"),
    ]
    assert len({p.event.data["alert_id"] for p in store.published}) == 1


async def test_the_sweep_resolves_an_alert_whose_condition_no_longer_holds(store, uow):
    await _task(uow, task_data())
    await _sweep(store, T0 + timedelta(days=9, hours=12))
    # A supplement pause moved the due date out; the task is pending again.
    await _task(uow, task_data(due_at=T0 + timedelta(days=30)), at=LATER)

    result = await _sweep(store, T0 + timedelta(days=9, hours=13))

    assert (result.checked, result.raised, result.resolved) == (1, 0, 1)
    assert store.alerts.open() == []


async def test_the_sweep_goes_through_every_chunk(store, uow):
    for n in range(5):
        await _task(uow, task_data(f"T-{n}"))

    result = await _sweep(store, T0 + timedelta(days=12), chunk=2)

    assert (result.checked, result.raised) == (5, 5)
    assert sorted(a.task_id for a in store.alerts.open()) == [f"T-{n}" for n in range(5)]
    assert store.commits == 3  # one transaction per chunk


async def test_a_sweep_without_candidates_commits_nothing(store):
    result = await _sweep(store, T0)
    assert result.checked == 0
    assert store.commits == 0
