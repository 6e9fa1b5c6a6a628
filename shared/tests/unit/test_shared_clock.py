"""Platform time: real, compressed (PLATFORM_DAY_SECONDS) or manual."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.clock import ManualClock, ScaledClock, clock_from_settings
from shared.settings import get_platform_settings

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


def _fake_time(monkeypatch: pytest.MonkeyPatch, value: float) -> None:
    monkeypatch.setattr(time, "time", lambda: value)


def test_one_real_second_is_one_platform_day(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = ScaledClock(day_seconds=1, epoch=EPOCH)

    _fake_time(monkeypatch, EPOCH.timestamp())
    at_epoch = clock.now()
    _fake_time(monkeypatch, EPOCH.timestamp() + 1.0)
    one_second_later = clock.now()
    _fake_time(monkeypatch, EPOCH.timestamp() + 2.5)
    later = clock.now()

    assert clock.speedup == 86_400
    assert at_epoch == EPOCH
    assert one_second_later == EPOCH + timedelta(days=1)
    assert later == EPOCH + timedelta(days=2.5)
    assert later.tzinfo is not None
    assert later.utcoffset() == timedelta(0)


def test_real_seconds_of_a_platform_span() -> None:
    fast = ScaledClock(day_seconds=1, epoch=EPOCH)
    minute_per_day = ScaledClock(day_seconds=60, epoch=EPOCH)

    assert fast.real_seconds(86_400) == pytest.approx(1.0)
    assert minute_per_day.real_seconds(86_400) == pytest.approx(60.0)
    assert minute_per_day.real_seconds(3_600) == pytest.approx(2.5)


def test_real_time_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = ScaledClock()
    _fake_time(monkeypatch, 1_750_000_000.0)

    assert clock.speedup == 1.0
    assert clock.now() == datetime.fromtimestamp(1_750_000_000.0, UTC)
    assert clock.real_seconds(10) == 10


def test_epoch_in_another_offset_is_normalised_to_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    epoch = datetime(2025, 1, 1, 8, tzinfo=timezone(timedelta(hours=8)))
    clock = ScaledClock(day_seconds=10, epoch=epoch)
    _fake_time(monkeypatch, epoch.timestamp() + 5)

    assert clock.epoch == EPOCH
    assert clock.now() == EPOCH + timedelta(hours=12)


@pytest.mark.parametrize("day_seconds", [0, -1])
def test_day_seconds_must_be_positive(day_seconds: float) -> None:
    with pytest.raises(ValueError, match="day_seconds"):
        ScaledClock(day_seconds=day_seconds)


async def test_sleep_lasts_the_compressed_time() -> None:
    clock = ScaledClock(day_seconds=1, epoch=EPOCH)

    started = time.monotonic()
    await clock.sleep(8_640)  # a tenth of a platform day
    elapsed = time.monotonic() - started

    assert 0.08 <= elapsed < 1.0


def test_clock_from_settings_shares_the_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATFORM_DAY_SECONDS", "2")
    monkeypatch.setenv("PLATFORM_CLOCK_EPOCH", "2025-01-01T00:00:00Z")

    a = clock_from_settings(get_platform_settings())
    b = clock_from_settings(get_platform_settings())
    _fake_time(monkeypatch, EPOCH.timestamp() + 1)

    assert a.now() == b.now() == EPOCH + timedelta(hours=12)


def test_manual_clock_moves_only_when_told() -> None:
    start = datetime(2025, 1, 1, 8, tzinfo=timezone(timedelta(hours=8)))
    clock = ManualClock(start)

    first = clock.now()
    clock.advance(timedelta(days=3, hours=1))

    assert first == start
    assert first.utcoffset() == timedelta(0)
    assert clock.now() == start + timedelta(days=3, hours=1)
    assert clock.now() == clock.now()
    assert clock.real_seconds(86_400) == 0.0


async def test_manual_clock_sleep_does_not_wait() -> None:
    clock = ManualClock(EPOCH)

    await asyncio.wait_for(clock.sleep(10 * 86_400), timeout=0.5)

    assert clock.now() == EPOCH
