"""The projection consumer: each event type of `approval.projects` goes to its handler by its
`type`; data that is not what the type promises is rejected (to the dead-letter topic)."""

from datetime import timedelta

import pytest

from shared.clock import ManualClock
from shared.consumer import RejectEvent
from shared.events import PROJECT_EVENT_TYPES, TASK_EVENT_TYPES, EventType
from supervision_svc.consumers import projection_handlers

from supervision_fakes import T0, FakeUnitOfWork, approval_event, project_data, task_data

OUTBOX = object()  # the batch's transaction: the fake unit of work stands in for it


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def handlers(uow):
    return projection_handlers(ManualClock(T0), uow_of=lambda outbox: uow)


def test_every_event_type_of_the_projects_topic_has_a_handler(handlers):
    assert set(handlers) == set(PROJECT_EVENT_TYPES) | set(TASK_EVENT_TYPES)
    assert EventType.ALERT_RAISED not in handlers  # our own events are not projected


@pytest.mark.parametrize("event_type", sorted(PROJECT_EVENT_TYPES))
async def test_a_project_event_projects_the_project_and_its_tasks(handlers, uow, event_type):
    event = approval_event(event_type, project_data(task_data("T-1"), task_data("T-2")))

    await handlers[event_type](event, OUTBOX)

    assert uow.projects.rows["2505-110105-04-01-000017"].status == "in_review"
    assert set(uow.tasks.rows) == {"T-1", "T-2"}


@pytest.mark.parametrize("event_type", sorted(TASK_EVENT_TYPES))
async def test_a_task_event_projects_the_task(handlers, uow, event_type):
    event = approval_event(event_type, task_data("T-9", department="MNR"))

    await handlers[event_type](event, OUTBOX)

    assert uow.projects.rows == {}
    assert uow.tasks.rows["T-9"].department == "MNR"


async def test_the_event_time_is_the_rows_version(handlers, uow):
    later = T0 + timedelta(minutes=5)
    await handlers[EventType.TASK_ASSIGNED](
        approval_event(EventType.TASK_ASSIGNED, task_data(), time=later), OUTBOX
    )
    assert uow.tasks.rows["T-1"].version_at == later


async def test_a_project_type_carrying_a_task_is_rejected(handlers, uow):
    # Dispatch is by `type`: a project event must carry the project, whatever else it holds.
    event = approval_event(EventType.PROJECT_SUPPLEMENT_REQUESTED, task_data())
    with pytest.raises(RejectEvent, match="not a valid project"):
        await handlers[event.type](event, OUTBOX)
    assert uow.tasks.rows == {}


@pytest.mark.parametrize(
    ("event_type", "data", "named"),
    [
        (EventType.PROJECT_SUBMITTED, {"project_code": "x"}, "not a valid project"),
        (EventType.TASK_ASSIGNED, {"task_id": "x"}, "not a valid task"),
        (EventType.DECISION_RECORDED, project_data().model_dump(mode="json"), "not a valid task"),
        (EventType.PROJECT_APPROVED, ["not", "an", "object"], "must be a JSON object"),
        (EventType.TASK_WITHDRAWN, None, "must be a JSON object"),
    ],
)
async def test_invalid_data_is_rejected_with_the_reason(handlers, uow, event_type, data, named):
    event = approval_event(event_type, data)
    with pytest.raises(RejectEvent, match=named) as raised:
        await handlers[event_type](event, OUTBOX)
    assert event.id in str(raised.value)
    assert uow.projects.rows == {}
    assert uow.tasks.rows == {}
