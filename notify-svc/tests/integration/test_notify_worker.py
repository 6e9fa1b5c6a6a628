"""The delivery worker on a real database: claims, backoff schedule, outcomes, announcements."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlmodel import select

from notify_svc.adapters.email import EmailMessage, LogEmailSender, MailTransport
from notify_svc.adapters.worker import DeliveryWorker
from notify_svc.caches import Caches
from notify_svc.domain import RetryPolicy, delivery_id, signature_valid
from notify_svc.models import Delivery, DeliveryBody, Subscription
from notify_svc.unit_of_work import SqlUnitOfWork
from shared.clock import ManualClock
from shared.db import OutboxMessage
from shared.events import new_event
from shared.outbox import UnitOfWork

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


pytestmark = pytest.mark.integration


async def _seed(sessions, *, channel: str, target: str, secret: str = "s3cret") -> Delivery:
    event = new_event(type="project.approved", source="test", subject="P1", data={"x": 1})
    async with sessions() as session:
        session.add(
            Subscription(
                id="sub-1",
                owner="enterprise:A",
                owner_role="enterprise",
                owner_credit_code="A",
                created_by="u",
                channel=channel,
                target=target,
                event_types=["*"],
                secret=secret,
                created_at=START,
            )
        )
        session.add(DeliveryBody(event_id=event.id, body=event.to_json(), created_at=START))
        row = Delivery(
            delivery_id=delivery_id("sub-1", event.id),
            subscription_id="sub-1",
            event_id=event.id,
            event_type=event.type,
            project_code="P1",
            channel=channel,
            target=target,
            status="pending",
            attempts=0,
            created_at=START,
            at=START,
            next_attempt_at=START,
            attempt_log=[],
        )
        session.add(row)
        await session.commit()
    return row


class NoEmail:
    async def send(self, message: EmailMessage) -> str:
        raise AssertionError("no e-mail expected")


def _worker(
    sessions, clock, handler, *, email: MailTransport | None = None, max_attempts=3
) -> DeliveryWorker:
    worker = DeliveryWorker(
        uow_factory=lambda: SqlUnitOfWork(UnitOfWork(sessions), Caches()),
        clock=clock,
        http_client_factory=lambda: httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        mail=email or NoEmail(),
        mail_from="notify@platform.example.cn",
        guard=None,  # a mock transport: no address to check (the guard has its own tests)
        policy=RetryPolicy(base_s=10, factor=2, max_delay_s=60),
        max_attempts=max_attempts,
        lease_s=30,
    )
    worker._client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return worker


async def _row(sessions) -> Delivery:
    async with sessions() as session:
        return (await session.exec(select(Delivery))).one()


async def _outbox(sessions) -> list[OutboxMessage]:
    async with sessions() as session:
        return list((await session.exec(select(OutboxMessage))).all())


async def test_a_failing_webhook_is_retried_on_the_backoff_schedule_then_failed(sessions) -> None:
    clock = ManualClock(START)
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503, text="busy")

    await _seed(sessions, channel="webhook", target="https://hooks.example.com/x")
    worker = _worker(sessions, clock, handler)

    assert await worker.run_once() == 1
    row = await _row(sessions)
    assert (row.status, row.attempts, row.error) == (
        "pending",
        1,
        "HTTP 503 Service Unavailable: busy",
    )
    assert row.next_attempt_at == START + timedelta(seconds=10)
    assert await worker.run_once() == 0  # not due yet
    clock.advance(timedelta(seconds=10))
    assert await worker.run_once() == 1
    row = await _row(sessions)
    assert row.next_attempt_at == START + timedelta(seconds=10 + 20)
    clock.advance(timedelta(seconds=20))
    assert await worker.run_once() == 1
    row = await _row(sessions)
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 3, None)
    assert [a["attempt"] for a in row.attempt_log] == [1, 2, 3]
    assert len(calls) == 3
    [announced] = await _outbox(sessions)
    assert (announced.event_type, announced.topic) == ("notification.failed", "notify.deliveries")
    payload = json.loads(announced.payload)
    assert payload["data"]["status"] == "failed"
    assert payload["data"]["attempts"] == 3
    assert payload["causationid"] == row.event_id


async def test_a_webhook_is_posted_signed_and_recorded_delivered(sessions) -> None:
    clock = ManualClock(START)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202)

    row = await _seed(sessions, channel="webhook", target="https://hooks.example.com/x")
    worker = _worker(sessions, clock, handler)
    assert await worker.run_once() == 1
    [request] = seen
    assert request.headers["content-type"] == "application/cloudevents+json"
    assert signature_valid("s3cret", request.content, request.headers["x-signature"])
    assert json.loads(request.content)["id"] == row.event_id
    done = await _row(sessions)
    assert (done.status, done.attempts, done.error) == ("delivered", 1, None)
    [announced] = await _outbox(sessions)
    assert announced.event_type == "notification.delivered"


async def test_410_gone_is_not_retried(sessions) -> None:
    await _seed(sessions, channel="webhook", target="https://hooks.example.com/x")
    worker = _worker(sessions, ManualClock(START), lambda r: httpx.Response(410))
    await worker.run_once()
    row = await _row(sessions)
    assert (row.status, row.attempts) == ("failed", 1)


async def test_the_default_email_channel_writes_to_the_log(sessions, caplog) -> None:
    await _seed(sessions, channel="email", target="ops@example.com")
    worker = _worker(
        sessions, ManualClock(START), lambda r: httpx.Response(500), email=LogEmailSender()
    )
    with caplog.at_level("INFO", logger="notify_svc.channel.email"):
        await worker.run_once()
    row = await _row(sessions)
    assert row.status == "delivered"
    assert "no mail server" in row.attempt_log[0]["detail"]
    assert any("not sent" in r.getMessage() for r in caplog.records)
