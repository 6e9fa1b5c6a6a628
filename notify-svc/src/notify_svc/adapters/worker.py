"""The delivery worker: sends pending webhook and e-mail deliveries, retries, records outcomes.

A pending delivery is claimed by moving its due time past a lease (so two replicas never send
it at the same time; one that dies mid-send leaves it to be retried when the lease ends), sent,
and then recorded (`handlers.record_attempts`): delivered, failed for good (after
`max_attempts` or a 410), or due again after an exponential backoff. Final outcomes are
announced as `notification.delivered` / `notification.failed` on `notify.deliveries` through
the outbox. Receivers may see a webhook more than once (at-least-once); the CloudEvent id tells
repeats apart (an e-mail's Message-ID likewise).

Idle, the worker sleeps until the earliest pending delivery is due (the schedule is stored,
so a restart resumes it), woken early when this process records new work; `max_idle_s` bounds
the sleep so work another replica scheduled is not left waiting long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import timedelta

import httpx

from notify_svc import handlers
from notify_svc.adapters.email import MailTransport, send_email
from notify_svc.adapters.webhook import HttpClientFactory, TargetGuard, post_webhook
from notify_svc.domain import AttemptResult, RetryPolicy
from notify_svc.metrics import ATTEMPT_SECONDS, DELIVERIES, DELIVERY_ATTEMPTS, PENDING_RETRIES
from notify_svc.repository import Claimed
from notify_svc.unit_of_work import NotifyUnitOfWork
from shared.clock import Clock

log = logging.getLogger(__name__)


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
        uow_factory: Callable[[], NotifyUnitOfWork],
        clock: Clock,
        http_client_factory: HttpClientFactory,
        mail: MailTransport,
        mail_from: str,
        guard: TargetGuard | None,
        policy: RetryPolicy,
        max_attempts: int,
        lease_s: float,
        batch_size: int = 50,
        concurrency: int = 16,
        poll_interval_s: float = 0.5,
        max_idle_s: float = 5.0,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._client_factory = http_client_factory
        self._mail = mail
        self._mail_from = mail_from
        self._guard = guard
        self._policy = policy
        self._max_attempts = max_attempts
        self._lease_s = lease_s
        self._batch = batch_size
        self._limit = asyncio.Semaphore(concurrency)
        self._poll = poll_interval_s
        self._max_idle = max(max_idle_s, poll_interval_s)
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
                    delay = await self._idle_delay()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=delay)
                    self._wake.clear()
        finally:
            client, self._client = self._client, None
            if client is not None:
                await client.aclose()

    async def _idle_delay(self) -> float:
        """Real seconds until the earliest pending delivery is due (bounded)."""
        async with self._uow() as uow:
            due = await uow.deliveries.next_due()
            PENDING_RETRIES.set(await uow.deliveries.pending_retries())
        if due is None:
            return self._max_idle
        platform_s = (due - self._clock.now()).total_seconds()
        real_s = self._clock.real_seconds(platform_s) if platform_s > 0 else 0.0
        if platform_s > 0 and real_s <= 0:  # a manual clock: look again soon
            real_s = self._poll
        return min(max(real_s, 0.01), self._max_idle)

    async def run_once(self) -> int:
        """Send one batch of due deliveries; returns how many were handled."""
        now = self._clock.now()
        async with self._uow() as uow:
            claimed = await handlers.claim_due_deliveries(
                uow,
                now=now,
                lease_until=now + platform_delta(self._clock, self._lease_s),
                limit=self._batch,
            )
        if not claimed:
            return 0
        results = await asyncio.gather(*(self._attempt(c) for c in claimed))
        attempts = list(zip(claimed, results, strict=True))
        async with self._uow() as uow:
            statuses = await handlers.record_attempts(
                uow,
                attempts=attempts,
                now=self._clock.now(),
                policy=self._policy,
                max_attempts=self._max_attempts,
                platform_delta=lambda seconds: platform_delta(self._clock, seconds),
            )
        for (c, result), status in zip(attempts, statuses, strict=True):
            d = c.delivery
            DELIVERY_ATTEMPTS.labels(d.channel, "ok" if result.ok else "failed").inc()
            if status != "pending":
                DELIVERIES.labels(d.channel, status).inc()
            log.info(
                "delivery %s to %s attempt %d: %s",
                d.delivery_id,
                d.channel,
                d.attempts + 1,
                "ok" if result.ok else result.error,
            )
        return len(claimed)

    async def _attempt(self, claimed: Claimed) -> AttemptResult:
        delivery = claimed.delivery
        if claimed.subscription_gone:
            return AttemptResult(ok=False, error="the subscription was deleted", permanent=True)
        if claimed.body is None:
            return AttemptResult(ok=False, error="the event body is missing", permanent=True)
        async with self._limit:
            started = time.perf_counter()
            try:
                if delivery.channel == "webhook":
                    if self._client is None or not claimed.secret:
                        return AttemptResult(ok=False, error="webhook sender is not ready")
                    return await post_webhook(
                        self._client,
                        url=delivery.target,
                        body=claimed.body,
                        secret=claimed.secret,
                        guard=self._guard,
                    )
                if delivery.channel == "email":
                    return await send_email(
                        self._mail, to=delivery.target, body=claimed.body, sender=self._mail_from
                    )
            finally:
                ATTEMPT_SECONDS.labels(delivery.channel).observe(time.perf_counter() - started)
        return AttemptResult(ok=False, error=f"unknown channel {delivery.channel}", permanent=True)
