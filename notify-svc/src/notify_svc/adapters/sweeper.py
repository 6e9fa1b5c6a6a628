"""The retention sweep: purges stream history and delivery bodies past their retention
(`handlers.sweep_retention`), sets the stored-rows gauge, and sleeps until the oldest kept row
expires (`domain.retention`): at idle it wakes once per retention period, never in a loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from notify_svc import handlers
from notify_svc.adapters.worker import platform_delta
from notify_svc.domain.retention import seconds_until_next_sweep
from notify_svc.metrics import STORED_ROWS
from notify_svc.unit_of_work import NotifyUnitOfWork
from shared.clock import Clock

log = logging.getLogger(__name__)


class RetentionSweeper:
    def __init__(
        self,
        *,
        uow_factory: Callable[[], NotifyUnitOfWork],
        clock: Clock,
        stream_retention: timedelta,
        body_retention: timedelta,
        max_delay_s: float = 3600.0,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._stream_retention = stream_retention
        self._body_retention = body_retention
        self._max_delay = max_delay_s

    async def sweep(self) -> float:
        """One sweep; returns the real seconds until the next one is due."""
        real_now = datetime.now(UTC)
        async with self._uow() as uow:
            kept = await handlers.sweep_retention(
                uow,
                real_now=real_now,
                platform_now=self._clock.now(),
                stream_retention=self._stream_retention,
                body_retention=self._body_retention,
            )
        STORED_ROWS.labels("stream_events").set(kept.stream_events)
        STORED_ROWS.labels("delivery_bodies").set(kept.delivery_bodies)
        stream_due = seconds_until_next_sweep(
            oldest=kept.oldest_stream_event,
            now=real_now,
            retention=self._stream_retention,
            max_delay_s=self._max_delay,
        )
        # Bodies are stamped in platform time: their expiry converted to real seconds.
        platform_s = seconds_until_next_sweep(
            oldest=kept.oldest_delivery_body,
            now=self._clock.now(),
            retention=self._body_retention,
            max_delay_s=platform_delta(self._clock, self._max_delay).total_seconds(),
        )
        body_due = self._clock.real_seconds(platform_s) or platform_s
        return max(1.0, min(stream_due, body_due))

    async def run(self) -> None:
        """Background job: sweep, then sleep until the next row expires."""
        while True:
            delay = await self.sweep()
            log.debug("retention sweep done; next in %.0fs", delay)
            await asyncio.sleep(delay)
