"""One clock for the whole platform.

Real time by default. With `PLATFORM_DAY_SECONDS=n`, one platform day lasts n real seconds:
platform time runs `86400 / n` times faster than real time from a shared epoch, so every
time limit, timer and sweep (all computed in platform time) elapses in minutes for demos and
tests. Every process must be given the same `PLATFORM_CLOCK_EPOCH`.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

from shared.settings import REAL_DAY_SECONDS, PlatformSettings


class Clock(Protocol):
    def now(self) -> datetime: ...

    def real_seconds(self, platform_seconds: float) -> float:
        """How many real seconds a span of platform time lasts."""
        ...

    async def sleep(self, platform_seconds: float) -> None: ...


class ScaledClock:
    """Platform time = epoch + (real elapsed since epoch) * speed-up."""

    def __init__(self, *, day_seconds: float = REAL_DAY_SECONDS, epoch: datetime | None = None):
        if day_seconds <= 0:
            raise ValueError("day_seconds must be positive")
        self.speedup = REAL_DAY_SECONDS / day_seconds
        self.epoch = (epoch or datetime.now(UTC)).astimezone(UTC)
        self._epoch_ts = self.epoch.timestamp()

    def now(self) -> datetime:
        real = time.time()
        if self.speedup == 1.0:
            return datetime.fromtimestamp(real, UTC)
        return self.epoch + timedelta(seconds=(real - self._epoch_ts) * self.speedup)

    def real_seconds(self, platform_seconds: float) -> float:
        return platform_seconds / self.speedup

    async def sleep(self, platform_seconds: float) -> None:
        await asyncio.sleep(self.real_seconds(platform_seconds))


class ManualClock:
    """A clock that moves only when told: for unit tests of time rules."""

    def __init__(self, start: datetime) -> None:
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def real_seconds(self, platform_seconds: float) -> float:
        return 0.0

    async def sleep(self, platform_seconds: float) -> None:
        # Time only moves by advance(); a short real pause keeps sweeps from spinning.
        await asyncio.sleep(min(platform_seconds, 0.05))


def clock_from_settings(settings: PlatformSettings) -> ScaledClock:
    return ScaledClock(day_seconds=settings.day_seconds, epoch=settings.clock_epoch)
