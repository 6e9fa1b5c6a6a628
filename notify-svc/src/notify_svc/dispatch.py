"""The delivery worker: sends pending webhook and e-mail deliveries, retries, records outcomes.

A pending delivery is claimed by moving its due time past a lease (so two replicas never send
it at the same time; one that dies mid-send leaves it to be retried when the lease ends), sent,
and then recorded: delivered, failed for good (after `max_attempts` or a 410), or due again
after an exponential backoff. Final outcomes are announced as `notification.delivered` /
`notification.failed` on `notify.deliveries` through the outbox. Receivers may see a webhook
more than once (at-least-once); the CloudEvent id tells repeats apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import update
from sqlmodel import col, select

from notify_svc.domain import RetryPolicy, next_delay
from notify_svc.models import Delivery, DeliveryBody, Subscription
from notify_svc.senders import (
    AttemptResult,
    EmailSender,
    HttpClientFactory,
    post_webhook,
    send_email,
)
from shared.clock import Clock
from shared.events import NOTIFY_SOURCE, CloudEvent, DeliveryData
from shared.outbox import UnitOfWork
from shared.topics import NOTIFY_DELIVERIES

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Claimed:
    delivery: Delivery
    body: bytes | None
    secret: str | None
    subscription_gone: bool


def platform_delta(clock: Clock, real_seconds: float) -> timedelta:
    """A real-time span in the platform's (possibly compressed) time."""
    per_platform_second = clock.real_seconds(1.0)
    if per_platform_second <= 0:  # a manual clock: spans are taken as they are
        return timedelta(seconds=real_seconds)
    return timedelta(seconds=real_seconds / per_platform_second)


class DeliveryWorker:
    def __init__(
        self,
        *,
        uow_factory: Any,
        clock: Clock,
        http_client_factory: HttpClientFactory,
        email_sender: EmailSender,
        policy: RetryPolicy,
        max_attempts: int,
        lease_s: float,
        batch_size: int = 50,
        concurrency: int = 16,
        poll_interval_s: float = 0.5,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._client_factory = http_client_factory
        self._email = email_sender
        self._policy = policy
        self._max_attempts = max_attempts
        self._lease_s = lease_s
        self._batch = batch_size
        self._limit = asyncio.Semaphore(concurrency)
        self._poll = poll_interval_s
        self._wake = asyncio.Event()
        self._client: httpx.AsyncClient | None = None

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Background job: runs until cancelled."""
        self._client = self._client_factory()
        try:
            while True:
                handled = await self.run_once()
                if handled < self._batch:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
                    self._wake.clear()
        finally:
            client, self._client = self._client, None
            if client is not None:
                await client.aclose()

    async def run_once(self) -> int:
        """Send one batch of due deliveries; returns how many were handled."""
        claimed = await self._claim()
        if not claimed:
            return 0
        results = await asyncio.gather(*(self._attempt(c) for c in claimed))
        await self._record(list(zip(claimed, results, strict=True)))
        return len(claimed)

    async def _claim(self) -> list[Claimed]:
        now = self._clock.now()
        lease_until = now + platform_delta(self._clock, self._lease_s)
        async with self._uow() as uow:
            rows = (
                await uow.session.exec(
                    select(
                        Delivery, DeliveryBody.body, Subscription.secret, Subscription.deleted_at
                    )
                    .join(
                        DeliveryBody,
                        col(DeliveryBody.event_id) == col(Delivery.event_id),
                        isouter=True,
                    )
                    .join(
                        Subscription,
                        col(Subscription.id) == col(Delivery.subscription_id),
                        isouter=True,
                    )
                    .where(col(Delivery.next_attempt_at).is_not(None))
                    .where(col(Delivery.next_attempt_at) <= now)
                    .order_by(col(Delivery.next_attempt_at))
                    .limit(self._batch)
                )
            ).all()
            claimed: list[Claimed] = []
            for delivery, body, secret, deleted_at in rows:
                result = await uow.session.exec(
                    update(Delivery)
                    .where(col(Delivery.seq) == delivery.seq)
                    .where(col(Delivery.status) == "pending")
                    .where(col(Delivery.next_attempt_at) <= now)
                    .values(next_attempt_at=lease_until)
                )
                if result.rowcount == 1:
                    claimed.append(Claimed(delivery, body, secret, deleted_at is not None))
            await uow.commit()
        return claimed

    async def _attempt(self, claimed: Claimed) -> AttemptResult:
        delivery = claimed.delivery
        if claimed.subscription_gone:
            return AttemptResult(ok=False, error="the subscription was deleted", permanent=True)
        if claimed.body is None:
            return AttemptResult(ok=False, error="the event body is missing", permanent=True)
        async with self._limit:
            if delivery.channel == "webhook":
                if self._client is None or not claimed.secret:
                    return AttemptResult(ok=False, error="webhook sender is not ready")
                return await post_webhook(
                    self._client, url=delivery.target, body=claimed.body, secret=claimed.secret
                )
            if delivery.channel == "email":
                return await send_email(self._email, to=delivery.target, body=claimed.body)
        return AttemptResult(ok=False, error=f"unknown channel {delivery.channel}", permanent=True)

    async def _record(self, outcomes: list[tuple[Claimed, AttemptResult]]) -> None:
        now = self._clock.now()
        async with self._uow() as uow:
            for claimed, result in outcomes:
                values, final = self._outcome(claimed.delivery, result, now)
                await uow.session.exec(
                    update(Delivery)
                    .where(col(Delivery.seq) == claimed.delivery.seq)
                    .values(**values)
                )
                if final is not None and claimed.body is not None:
                    self._announce(uow, claimed, values, final, now)
            await uow.commit()
        for claimed, result in outcomes:
            d = claimed.delivery
            log.info(
                "delivery %s to %s attempt %d: %s",
                d.delivery_id,
                d.channel,
                d.attempts + 1,
                "ok" if result.ok else result.error,
            )

    def _outcome(
        self, delivery: Delivery, result: AttemptResult, now: datetime
    ) -> tuple[dict[str, Any], str | None]:
        attempts = delivery.attempts + 1
        entry: dict[str, Any] = {
            "attempt": attempts,
            "at": now.isoformat(),
            "status": "delivered" if result.ok else "failed",
            "status_code": result.status_code,
            "error": result.error,
        }
        if result.detail:
            entry["detail"] = result.detail
        values: dict[str, Any] = {
            "attempts": attempts,
            "at": now,
            "error": result.error,
            "attempt_log": [*delivery.attempt_log, entry],
        }
        if result.ok:
            values.update(status="delivered", next_attempt_at=None)
            return values, "delivered"
        delay = None
        if not result.permanent:
            delay = next_delay(
                self._policy,
                attempts=attempts,
                max_attempts=self._max_attempts,
                status_code=result.status_code,
            )
        if delay is None:
            values.update(status="failed", next_attempt_at=None)
            return values, "failed"
        values.update(status="pending", next_attempt_at=now + platform_delta(self._clock, delay))
        return values, None

    @staticmethod
    def _announce(
        uow: UnitOfWork, claimed: Claimed, values: dict[str, Any], status: str, now: datetime
    ) -> None:
        d = claimed.delivery
        assert claimed.body is not None
        try:
            source_event = CloudEvent.from_json(claimed.body)
        except ValueError:
            log.warning("delivery %s: stored body is not a CloudEvent", d.delivery_id)
            return
        data = DeliveryData(
            delivery_id=d.delivery_id,
            subscription_id=d.subscription_id,
            event_id=d.event_id,
            event_type=d.event_type,
            channel=d.channel,
            target=d.target,
            status="delivered" if status == "delivered" else "failed",
            attempts=values["attempts"],
            error=values["error"],
            at=now,
        )
        uow.emit(
            source_event.caused(
                type=f"notification.{status}",
                source=NOTIFY_SOURCE,
                data=data,
                subject=d.project_code,
            ),
            NOTIFY_DELIVERIES,
        )
