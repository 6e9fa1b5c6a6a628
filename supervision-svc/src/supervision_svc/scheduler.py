"""Runs the sweeps (use cases in `handlers`) every so many platform days.

A sweep's failure is logged and retried at the next interval, never fatal. Each sweep that
finishes counts in `supervision_sweeps_completed_total{sweep}`: how a test (or an operator)
knows that a sweep has looked at the data since a given moment.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from shared.clock import Clock
from supervision_svc.metrics import SWEEP_LAST_SUCCESS, SWEEPS_COMPLETED

log = logging.getLogger(__name__)

MIN_REAL_INTERVAL_S = 0.2  # a clock that never sleeps (ManualClock) must not spin the loop

Sweep = Callable[[datetime], Awaitable[object]]


async def run_periodically(name: str, sweep: Sweep, *, clock: Clock, interval_days: float) -> None:
    """Call `sweep(now)` forever, every `interval_days` platform days."""
    interval_s = interval_days * 86_400
    while True:
        try:
            await sweep(clock.now())
        except Exception:
            log.exception("%s sweep failed; retrying next interval", name)
        else:
            SWEEP_LAST_SUCCESS.labels(name).set(time.time())
            SWEEPS_COMPLETED.labels(name).inc()
        await asyncio.sleep(max(clock.real_seconds(interval_s), MIN_REAL_INTERVAL_S))
