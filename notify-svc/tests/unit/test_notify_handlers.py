"""The use cases against an in-memory unit of work and fakes: no database, no broker, no HTTP."""

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
    BUILTIN_LOG_SUBSCRIPTION,
    AttemptResult,
    InvalidField,
    KnownProject,
    NotFound,
    ProjectionUpdate,
    RetryPolicy,
    Viewer,
    delivery_id,
)
from notify_svc.models import Delivery
from notify_svc.repository import Claimed
from shared.events import CloudEvent, EventType, new_event
from shared.topics import NOTIFY_DELIVERIES

# --- subscriptions -------------------------------------------------------------------------


async def test_a_subscription_belongs_to_the_callers_tenant_and_has_a_secret() -> None:
    uow = FakeUnitOfWork()

    created = await subscribe(uow, ENT_A, "project.approved", "project.approved")

    assert uow.commits == 1
    assert uow.subscriptions.rows == {created.id: created}
    assert (created.owner, created.owner_role, created.owner_credit_code) == (
        f"enterprise:{A}",
        "enterprise",
        A,
    )
    assert created.target == "https://hooks.example.com/x"  # trimmed
    assert created.event_types == ["project.approved"]  # deduplicated
    assert created.secret is not None
    assert len(created.secret) == 64
    other = await subscribe(uow, ENT_A)
    assert other.secret != created.secret


@pytest.mark.parametrize(
    ("channel", "target", "types", "field"),
    [
        ("webhook", "ftp://example.com/x", ["*"], "target"),
        ("email", "nobody", ["*"], "target"),
        ("webhook", "https://example.com/h", [], "event_types"),
        ("webhook", "https://example.com/h", ["project.eaten"], "event_types"),
    ],
)
async def test_a_refused_subscription_names_its_field_and_stores_nothing(
    channel: str, target: str, types: list[str], field: str
) -> None:
    uow = FakeUnitOfWork()

    command = handlers.Subscribe(channel=channel, target=target, event_types=types)

    with pytest.raises(InvalidField) as refused:
        await handlers.create_subscription(
            uow, command=command, viewer=ENT_A, created_by="u", now=NOW
        )

    assert refused.value.field == field
    assert uow.subscriptions.rows == {}
    assert uow.commits == 0


async def test_the_owner_or_ops_deletes_a_subscription_others_are_told_it_is_not_there() -> None:
    uow = FakeUnitOfWork()
    sub = await subscribe(uow, ENT_A)
    by_ops = await subscribe(uow, ENT_A)

    for stranger in (ENT_B, MEE):
        with pytest.raises(NotFound):
            await handlers.delete_subscription(uow, viewer=stranger, sub_id=sub.id, now=NOW)
    assert sub.deleted_at is None
    await handlers.delete_subscription(uow, viewer=ENT_A, sub_id=sub.id, now=NOW)
    await handlers.delete_subscription(uow, viewer=OPS, sub_id=by_ops.id, now=NOW)

    assert uow.subscriptions.rows[sub.id].deleted_at == NOW
    assert uow.subscriptions.rows[by_ops.id].deleted_at == NOW
    with pytest.raises(NotFound):  # deleted once is gone
        await handlers.delete_subscription(uow, viewer=ENT_A, sub_id=sub.id, now=NOW)
    with pytest.raises(NotFound):
        await handlers.delete_subscription(uow, viewer=ENT_A, sub_id="nope", now=NOW)


# --- events into deliveries ----------------------------------------------------------------


async def test_an_event_reaches_the_log_and_the_subscriptions_that_may_see_it() -> None:
    uow = FakeUnitOfWork()
    mine = await subscribe(uow, ENT_A)
    await subscribe(uow, ENT_B)  # another enterprise's
    dept = await subscribe(uow, MEE, "project.submitted")
    await subscribe(uow, ENT_A, "project.rejected")  # another type
    out = Announcements()
    event = project_event(EventType.PROJECT_SUBMITTED)

    await handlers.ingest_event(uow, event=event, now=NOW, announce=out.announce())

    added = uow.deliveries.added
    by_sub = {d.subscription_id: d for d in added.values()}
    assert set(by_sub) == {BUILTIN_LOG_SUBSCRIPTION, mine.id, dept.id}
    log = by_sub[BUILTIN_LOG_SUBSCRIPTION]
    assert (log.status, log.attempts, log.channel, log.next_attempt_at) == (
        "delivered",
        1,
        "log",
        None,
    )
    pending = by_sub[mine.id]
    assert (pending.status, pending.attempts, pending.next_attempt_at) == ("pending", 0, NOW)
    assert (pending.project_code, pending.event_type) == ("P1", "project.submitted")
    assert pending.delivery_id == delivery_id(mine.id, event.id)
    assert uow.deliveries.bodies == {event.id: event.to_json()}
    # Nothing is announced before the batch commits.
    assert (out.logged, out.wakes) == ([], 0)
    await uow.commit()
    assert out.logged == [event.id]
    assert out.wakes == 1


async def test_the_projection_supplies_the_enterprise_of_a_task_event() -> None:
    audience = FakeAudience({"P1": KnownProject(A, frozenset({"MEE", "MNR"}))})
    uow = FakeUnitOfWork(audience)
    ent_a = await subscribe(uow, ENT_A)
    await subscribe(uow, ENT_B)
    mee = await subscribe(uow, MEE)
    await subscribe(uow, Viewer("department", department="MNR"))  # another task's department

    await handlers.ingest_event(
        uow, event=task_event(department="MEE"), now=NOW, announce=Announcements().announce()
    )

    subs = {d.subscription_id for d in uow.deliveries.added.values()}
    assert subs == {BUILTIN_LOG_SUBSCRIPTION, ent_a.id, mee.id}
    assert audience.lookups == ["P1"]


async def test_an_event_of_an_unknown_project_reaches_ops_and_the_log_only() -> None:
    uow = FakeUnitOfWork()
    ops = await subscribe(uow, OPS)
    await subscribe(uow, ENT_A)
    alert = new_event(
        type=EventType.ALERT_RAISED, source="/test", subject="P9", data={"project_code": "P9"}
    )

    await handlers.ingest_event(uow, event=alert, now=NOW, announce=Announcements().announce())

    subs = {d.subscription_id for d in uow.deliveries.added.values()}
    assert subs == {BUILTIN_LOG_SUBSCRIPTION, ops.id}


async def test_ops_only_subscribers_need_no_audience_lookup() -> None:
    uow = FakeUnitOfWork()
    await subscribe(uow, OPS)

    await handlers.ingest_event(
        uow, event=task_event(), now=NOW, announce=Announcements().announce()
    )
    assert uow.audience.lookups == []
    await subscribe(uow, ENT_A)  # a restricted subscriber: the audience is resolved now
    await handlers.ingest_event(
        uow, event=task_event(), now=NOW, announce=Announcements().announce()
    )
    assert uow.audience.lookups == ["P1"]


async def test_without_subscribers_nothing_is_queued_and_the_worker_sleeps() -> None:
    uow = FakeUnitOfWork()
    out = Announcements()
    event = project_event(EventType.PROJECT_APPROVED)

    await handlers.ingest_event(uow, event=event, now=NOW, announce=out.announce())
    await uow.commit()

    assert [d.subscription_id for d in uow.deliveries.added.values()] == [BUILTIN_LOG_SUBSCRIPTION]
    assert uow.deliveries.bodies == {}
    assert (out.wakes, out.logged) == (0, [event.id])


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            project_event(EventType.PROJECT_SUBMITTED),
            ProjectionUpdate("P1", A, frozenset({"MEE", "MNR"}), records_owner=True),
        ),
        (
            project_event(EventType.PROJECT_FILED),
            ProjectionUpdate("P1", A, frozenset({"MEE", "MNR"}), records_owner=True),
        ),
        (task_event(), ProjectionUpdate("P1", None, frozenset({"MEE"}), records_owner=False)),
        (project_event(EventType.PROJECT_APPROVED), None),
        (project_event(EventType.PROJECT_SUPPLEMENT_PROVIDED), None),
    ],
    ids=["submitted", "filed", "task", "approved", "supplement"],
)
async def test_only_events_that_introduce_a_project_or_a_task_feed_the_projection(
    event: CloudEvent, expected: ProjectionUpdate | None
) -> None:
    uow = FakeUnitOfWork()

    await handlers.ingest_event(uow, event=event, now=NOW, announce=Announcements().announce())

    assert uow.audience.updates == ([expected] if expected else [])


# --- delivery attempts ---------------------------------------------------------------------


def claimed(*, attempts: int = 0, body: bytes | None = b"") -> Claimed:
    source = project_event(EventType.PROJECT_APPROVED)
    delivery = Delivery(
        seq=1,
        delivery_id=delivery_id("sub-1", source.id),
        subscription_id="sub-1",
        event_id=source.id,
        event_type=source.type,
        project_code="P1",
        channel="webhook",
        target="https://hooks.example.com/x",
        status="pending",
        attempts=attempts,
        created_at=NOW,
        at=NOW,
        next_attempt_at=NOW,
        attempt_log=[{"attempt": i + 1} for i in range(attempts)],
    )
    return Claimed(delivery, source.to_json() if body == b"" else body, "s3cret", False)


async def record(uow: FakeUnitOfWork, *attempts: tuple[Claimed, AttemptResult]) -> None:
    await handlers.record_attempts(
        uow,
        attempts=list(attempts),
        now=NOW,
        policy=RetryPolicy(base_s=10, factor=2, max_delay_s=60),
        max_attempts=3,
        platform_delta=lambda seconds: timedelta(seconds=seconds * 2),
    )


async def test_a_failed_attempt_is_due_again_after_the_backoff_in_platform_time() -> None:
    uow = FakeUnitOfWork()

    await record(uow, (claimed(attempts=1), AttemptResult(ok=False, status_code=503, error="e")))

    [(_, outcome, due)] = uow.deliveries.recorded
    assert (outcome.status, outcome.attempts, outcome.error) == ("pending", 2, "e")
    assert due == NOW + timedelta(seconds=20 * 2)  # 2nd failure: 20 real s, doubled
    assert [a["attempt"] for a in outcome.attempt_log] == [1, 2]
    assert uow.emitted == []  # not final: nothing announced
    assert uow.commits == 1


async def test_final_outcomes_are_announced_as_caused_by_the_delivered_event() -> None:
    uow = FakeUnitOfWork()
    ok, gone, last = claimed(), claimed(), claimed(attempts=2)

    await record(
        uow,
        (ok, AttemptResult(ok=True, status_code=204)),
        (gone, AttemptResult(ok=False, status_code=410, error="HTTP 410 Gone")),
        (last, AttemptResult(ok=False, status_code=500, error="HTTP 500")),
    )

    statuses = [(o.status, o.attempts, due) for _, o, due in uow.deliveries.recorded]
    assert statuses == [("delivered", 1, None), ("failed", 1, None), ("failed", 3, None)]
    assert [(e.type, topic) for e, topic in uow.emitted] == [
        (EventType.NOTIFICATION_DELIVERED, NOTIFY_DELIVERIES),
        (EventType.NOTIFICATION_FAILED, NOTIFY_DELIVERIES),
        (EventType.NOTIFICATION_FAILED, NOTIFY_DELIVERIES),
    ]
    announced, _ = uow.emitted[2]
    assert announced.causationid == last.delivery.event_id
    assert announced.subject == "P1"
    assert announced.data["status"] == "failed"
    assert announced.data["attempts"] == 3
    assert announced.data["delivery_id"] == last.delivery.delivery_id


async def test_a_delivery_without_a_readable_body_fails_unannounced() -> None:
    uow = FakeUnitOfWork()

    await record(
        uow,
        (claimed(body=None), AttemptResult(ok=False, error="missing", permanent=True)),
        (claimed(body=b"not json"), AttemptResult(ok=False, error="x", permanent=True)),
    )

    assert [o.status for _, o, _ in uow.deliveries.recorded] == ["failed", "failed"]
    assert uow.emitted == []


async def test_claiming_holds_due_deliveries_and_commits() -> None:
    uow = FakeUnitOfWork()
    uow.deliveries.due = [claimed(), claimed(), claimed()]

    got = await handlers.claim_due_deliveries(
        uow, now=NOW, lease_until=NOW + timedelta(seconds=30), limit=2
    )

    assert len(got) == 2
    assert uow.commits == 1
