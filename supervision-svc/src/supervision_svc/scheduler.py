"""Runs the time rules (`handlers.run_due_rules`) when they fall due, and not otherwise.

Each run returns the next instant a rule is due (timers computed from the stored state); the
loop sleeps until then in real time, between a floor (no spinning, e.g. under a `ManualClock`
or a due instant already past) and a ceiling (a safety net). Whatever changes the state earlier
(an event, a report) calls `Wakeup.wake()` after its commit, so a new timer is looked at at once.
An idle platform therefore sleeps for the ceiling, whatever `PLATFORM_DAY_SECONDS` is.

A run's failure is logged and retried after the floor, never fatal. Each run that finishes
counts in `supervision_sweeps_completed_total{sweep}`: how a test (or an operator) knows that
the rules have looked at the data since a given moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from shared.clock import Clock
from supervision_svc.metrics import SWEEP_LAST_SUCCESS, SWEEPS_COMPLETED

log = logging.getLogger(__name__)

RETRY_AFTER_FAILURE_S = 1.0

Run = Callable[[datetime], Awaitable[datetime | None]]


class Wakeup:
    """Tells the scheduler to look again now (state changed outside its timers)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def wake(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    async def wait(self, timeout_s: float) -> bool:
        """True when woken within `timeout_s`, False on time-out."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout_s)
            return True
        return False


def real_delay(
    *, clock: Clock, now: datetime, next_due: datetime | None, floor_s: float, ceiling_s: float
) -> float:
    """Real seconds to sleep until `next_due` (platform time), clamped to [floor, ceiling]."""
    if next_due is None:
        return ceiling_s
    platform_s = (next_due - now).total_seconds()
    return min(max(clock.real_seconds(platform_s), floor_s), ceiling_s)


async def run_on_timers(
    name: str,
    run: Run,
    *,
    clock: Clock,
    wakeup: Wakeup,
    floor_s: float,
    ceiling_s: float,
) -> None:
    """Call `run(now)` forever: again when its next due instant comes or when woken."""
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        wakeup.clear()  # a wake during the run means: run again
        delay = RETRY_AFTER_FAILURE_S
        try:
            next_due = await run(clock.now())
        except Exception:
            log.exception("%s run failed; retrying in %.1f s", name, RETRY_AFTER_FAILURE_S)
        else:
            SWEEP_LAST_SUCCESS.labels(name).set(time.time())
            SWEEPS_COMPLETED.labels(name).inc()
            delay = real_delay(
                clock=clock,
                now=clock.now(),
                next_due=next_due,
                floor_s=floor_s,
                ceiling_s=ceiling_s,
            )
        await wakeup.wait(delay)
        # The floor holds for wake-ups too: a burst of events runs the rules once per floor.
        rest = floor_s - (loop.time() - started)
        if rest > 0:
            await asyncio.sleep(rest)
