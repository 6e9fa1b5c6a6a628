"""Clock control: run the platform's time faster, the same way in every process of a test.

The services read ``PLATFORM_DAY_SECONDS`` (one platform day lasts that many real seconds) and
``PLATFORM_CLOCK_EPOCH`` (the instant platform and real time coincide; every process must be
given the same one). See :mod:`shared.clock`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from shared.clock import ScaledClock
from shared.settings import REAL_DAY_SECONDS

DAY_SECONDS_ENV = "PLATFORM_DAY_SECONDS"
EPOCH_ENV = "PLATFORM_CLOCK_EPOCH"


def compressed_clock_env(day_seconds: float, *, epoch: datetime | None = None) -> dict[str, str]:
    """Environment variables making a platform day last `day_seconds` real seconds.

    The epoch defaults to now; pass the result to every process (or settings) of the test.
    """
    if day_seconds <= 0:
        raise ValueError("day_seconds must be positive")
    start = (epoch or datetime.now(UTC)).astimezone(UTC)
    return {DAY_SECONDS_ENV: repr(float(day_seconds)), EPOCH_ENV: start.isoformat()}


def clock_from_env(env: Mapping[str, str]) -> ScaledClock:
    """The clock a service given `env` runs on (to compute expected platform times in a test)."""
    day_seconds = float(env[DAY_SECONDS_ENV]) if DAY_SECONDS_ENV in env else REAL_DAY_SECONDS
    epoch = datetime.fromisoformat(env[EPOCH_ENV]) if EPOCH_ENV in env else None
    return ScaledClock(day_seconds=day_seconds, epoch=epoch)
