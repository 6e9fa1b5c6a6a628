"""Use cases beyond ingesting: rotate a secret, retry a failed delivery, the contact address,
the stream history and retention (in-memory fakes, no I/O)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from notify_fakes import (
    ENT_A,
    ENT_B,
    MEE,
    NOW,
    OPS,
    A,
    Announcements,
    FakeAudience,
    FakeUnitOfWork,
    project_event,
    subscribe,
    task_event,
)

from notify_svc import handlers
from notify_svc.domain import (
    CONTACT_EMAIL_SUBSCRIPTION,
    AttemptResult,
    KnownProject,
    NotFound,
    RetryPolicy,
    outcome_of_attempt,
)
from notify_svc.domain.errors import Conflict
from notify_svc.domain.retention import MIN_SWEEP_DELAY_S, seconds_until_next_sweep
from notify_svc.models import Delivery
from notify_svc.stream_history import NewStreamEvent
from shared.events import EventType, new_event


async def test_the_owner_or_ops_rotates_a_secret_others_get_not_found() -> None:
    uow = FakeUnitOfWork()
    sub = await subscribe(uow, ENT_A)
    first = sub.secret

    for stranger in (ENT_B, MEE):
        with pytest.raises(NotFound):
            await handlers.rotate_secret(uow, viewer=stranger, sub_id=sub.id)
    assert sub.secret == first
    second = (await handlers.rotate_secret(uow, viewer=ENT_A, sub_id=sub.id)).secret
    assert second not in (None, first)
    third = (await handlers.rotate_secret(uow, viewer=OPS, sub_id=sub.id)).secret
    assert third not in (None, first, second)
    assert uow.subscriptions.rows[sub.id].secret == third


def failed_delivery(subscription_id: str, status: str = "failed") -> Delivery:
    return Delivery(
        seq=7,
        delivery_id="d-1",
        subscription_id=subscription_id,
        event_id="e-1",
        event_type=EventType.PROJECT_APPROVED,
        channel="webhook",
        target="https://hooks.example.com/x",
        status=status,
        attempts=3,
        created_at=NOW,
        at=NOW,
    )


async def test_a_failed_delivery_is_retried_by_its_owner_or_ops_only() -> None:
    uow = FakeUnitOfWork()
    sub = await subscribe(uow, ENT_A)
    uow.deliveries.stored["d-1"] = (failed_delivery(sub.id), sub)
    out = Announcements()

    for stranger in (ENT_B, MEE):
        with pytest.raises(NotFound):
            await handlers.retry_delivery(
                uow, viewer=stranger, delivery_id="d-1", now=NOW, wake_worker=out.wake
            )
    with pytest.raises(NotFound):
        await handlers.retry_delivery(
            uow, viewer=OPS, delivery_id="nope", now=NOW, wake_worker=out.wake
        )
    assert uow.deliveries.retried == []
    retried = await handlers.retry_delivery(
        uow, viewer=ENT_A, delivery_id="d-1", now=NOW, wake_worker=out.wake
    )
    assert (retried.status, retried.next_attempt_at, retried.retried_from) == ("pending", NOW, 3)
    assert uow.deliveries.retried == ["d-1"]
    assert out.wakes == 1


async def test_only_a_failed_delivery_of_a_live_subscription_can_be_retried() -> None:
    uow = FakeUnitOfWork()
    sub = await subscribe(uow, ENT_A)
    uow.deliveries.stored["d-1"] = (failed_delivery(sub.id, status="delivered"), sub)
    with pytest.raises(Conflict):
        await handlers.retry_delivery(
            uow, viewer=OPS, delivery_id="d-1", now=NOW, wake_worker=lambda: None
        )
    sub.deleted_at = NOW
    uow.deliveries.stored["d-1"] = (failed_delivery(sub.id), sub)
    with pytest.raises(Conflict):
        await handlers.retry_delivery(
            uow, viewer=OPS, delivery_id="d-1", now=NOW, wake_worker=lambda: None
        )
    assert uow.deliveries.retried == []


def test_a_manual_retry_restarts_the_attempt_budget() -> None:
    failed = AttemptResult(ok=False, status_code=500, error="HTTP 500")
    policy = RetryPolicy(base_s=1, factor=2, max_delay_s=10)
    exhausted = outcome_of_attempt(
        attempts_before=3, attempt_log=[], result=failed, now=NOW, policy=policy, max_attempts=3
    )
    assert exhausted.status == "failed"
    after_retry = outcome_of_attempt(
        attempts_before=3,
        attempt_log=[],
        result=failed,
        now=NOW,
        policy=policy,
        max_attempts=3,
        retried_from=3,
    )
    assert (after_retry.status, after_retry.attempts, after_retry.retry_after_s) == (
        "pending",
        4,
        1.0,
    )


async def test_the_contact_address_is_emailed_on_the_events_it_is_told_about() -> None:
    uow = FakeUnitOfWork(FakeAudience({"P1": KnownProject(A, frozenset(), "boss@example.cn")}))
    out = Announcements()
    supplement = project_event(
        EventType.PROJECT_SUPPLEMENT_REQUESTED, contact_email="owner@example.cn"
    )
    alert = new_event(
        type=EventType.ALERT_RAISED,
        source="/t",
        subject="P1",
        data={"project_code": "P1", "kind": "start_overdue", "level": "red"},
    )
    for event in (supplement, alert, project_event(EventType.PROJECT_SUPPLEMENT_PROVIDED)):
        await handlers.ingest_event(uow, event=event, now=NOW, announce=out.announce())

    contact = {
        d.event_id: (d.channel, d.target, d.status)
        for d in uow.deliveries.added.values()
        if d.subscription_id == CONTACT_EMAIL_SUBSCRIPTION
    }
    assert contact == {
        supplement.id: ("email", "owner@example.cn", "pending"),  # the event's own address
        alert.id: ("email", "boss@example.cn", "pending"),  # the projection's
    }
    assert set(uow.deliveries.bodies) == {supplement.id, alert.id}


async def test_a_submission_teaches_the_projection_its_contact_address() -> None:
    uow = FakeUnitOfWork()
    submitted = project_event(EventType.PROJECT_SUBMITTED, contact_email="boss@example.cn")
    await handlers.ingest_event(uow, event=submitted, now=NOW, announce=Announcements().announce())
    [update] = uow.audience.updates
    assert update.contact_email == "boss@example.cn"
    # Not an event the contact address is told about: nothing mailed.
    assert [d.channel for d in uow.deliveries.added.values()] == ["log"]


async def test_a_stream_batch_stores_streamed_events_with_their_audience_and_positions() -> None:
    uow = FakeUnitOfWork()
    submitted = project_event(EventType.PROJECT_SUBMITTED)
    assigned = task_event()
    ignored = new_event(type=EventType.NOTIFICATION_DELIVERED, source="/t", subject="P1", data={})
    messages = [
        handlers.ReadMessage("approval.projects", 0, 10, submitted),
        handlers.ReadMessage("approval.projects", 0, 11, None),  # not a CloudEvent
        handlers.ReadMessage("approval.projects", 0, 12, assigned),
        handlers.ReadMessage("approval.projects", 2, 4, ignored),
    ]

    offered = await handlers.record_stream_batch(
        uow,
        messages=messages,
        streamed_types={EventType.PROJECT_SUBMITTED, EventType.TASK_ASSIGNED},
        stored_at=NOW,
        topic_ids={"approval.projects": "id-1"},
    )

    assert offered == 2
    assert uow.stream.locked == 1
    assert list(uow.stream.rows) == [submitted.id, assigned.id]
    row = uow.stream.rows[assigned.id]
    assert row.audience is not None
    assert row.audience.credit_code == A  # learned from the submission in the same batch
    assert row.audience.departments == frozenset({"MEE"})
    assert row.body == assigned.to_json()
    assert uow.stream.positions == {("approval.projects", 0): 13, ("approval.projects", 2): 5}
    assert uow.stream.topic_ids == {"approval.projects": "id-1"}
    assert uow.commits == 1


async def test_a_sweep_purges_past_retention_and_keeps_bodies_still_needed() -> None:
    uow = FakeUnitOfWork()
    for n, age in enumerate((30, 10)):
        uow.stream.add(
            NewStreamEvent(
                f"s{n}", EventType.PROJECT_SUBMITTED, "P1", None, b"{}", NOW - timedelta(hours=age)
            )
        )
    uow.retention.bodies_at = {
        "old": NOW - timedelta(days=9),
        "needed": NOW - timedelta(days=9),
        "new": NOW - timedelta(days=1),
    }
    uow.retention.needed = {"needed"}

    kept = await handlers.sweep_retention(
        uow,
        real_now=NOW,
        platform_now=NOW,
        stream_retention=timedelta(hours=24),
        body_retention=timedelta(days=7),
    )

    assert list(uow.stream.rows) == ["s1"]
    assert set(uow.retention.bodies_at) == {"needed", "new"}
    assert (kept.stream_events, kept.oldest_stream_event) == (1, NOW - timedelta(hours=10))
    assert (kept.delivery_bodies, kept.oldest_delivery_body) == (2, NOW - timedelta(days=1))


def test_the_next_sweep_is_due_when_the_oldest_row_expires() -> None:
    day = timedelta(hours=24)
    assert seconds_until_next_sweep(
        oldest=NOW - timedelta(hours=23), now=NOW, retention=day, max_delay_s=1e9
    ) == pytest.approx(3600)
    assert (  # nothing stored: a whole period
        seconds_until_next_sweep(oldest=None, now=NOW, retention=day, max_delay_s=1e9) == 86400
    )
    assert (  # already due (a row on the edge): not chased in a loop
        seconds_until_next_sweep(
            oldest=NOW - timedelta(days=3), now=NOW, retention=day, max_delay_s=1e9
        )
        == MIN_SWEEP_DELAY_S
    )
    assert seconds_until_next_sweep(oldest=None, now=NOW, retention=day, max_delay_s=60) == 60
