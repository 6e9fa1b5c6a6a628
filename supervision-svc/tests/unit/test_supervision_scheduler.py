"""The timer loop: runs when a rule is due or when woken, never faster than the floor; a failing
run is retried; each completed run counts."""

import asyncio
from datetime import timedelta

import pytest

from shared.clock import ManualClock, ScaledClock
from supervision_svc.metrics import SWEEPS_COMPLETED
from supervision_svc.scheduler import Wakeup, real_delay, run_on_timers

from supervision_fakes import T0


async def test_a_failure_is_not_fatal_and_only_completed_runs_count(monkeypatch):
    monkeypatch.setattr("supervision_svc.scheduler.RETRY_AFTER_FAILURE_S", 0.0)
    clock = ManualClock(T0)
    seen = []

    async def run(now):
        seen.append(now)
        if len(seen) == 1:
            raise RuntimeError("database away")
        if len(seen) == 3:
            raise asyncio.CancelledError  # the app stops
        return None

    counter = SWEEPS_COMPLETED.labels("unit-test-run")
    before = counter._value.get()

    with pytest.raises(asyncio.CancelledError):
        await run_on_timers(
            "unit-test-run", run, clock=clock, wakeup=Wakeup(), floor_s=0.001, ceiling_s=0.001
        )

    assert seen == [T0, T0, T0]  # the run is given the platform time
    assert counter._value.get() == before + 1


def test_sleeps_until_the_next_due_instant_in_real_time():
    clock = ScaledClock(day_seconds=2, epoch=T0)  # one platform day lasts 2 real seconds
    now = T0  # real_delay only converts the span
    delay = real_delay(
        clock=clock, now=now, next_due=now + timedelta(days=3), floor_s=0.2, ceiling_s=30
    )
    assert delay == pytest.approx(6.0)


@pytest.mark.parametrize(
    ("due_in", "expected"),
    [
        (None, 30.0),  # nothing due: the ceiling (an idle platform sleeps)
        (timedelta(days=365), 30.0),  # far away: the ceiling
        (timedelta(seconds=1), 0.2),  # in a moment: the floor
        (timedelta(days=-1), 0.2),  # already past (a run failed half-way): the floor
    ],
)
def test_the_delay_is_clamped(due_in, expected):
    clock = ScaledClock(day_seconds=2, epoch=T0)
    now = T0  # real_delay only converts the span
    next_due = now + due_in if due_in is not None else None
    assert (
        real_delay(clock=clock, now=now, next_due=next_due, floor_s=0.2, ceiling_s=30) == expected
    )


async def test_a_wakeup_runs_the_rules_again_before_the_timer():
    clock = ManualClock(T0)
    wakeup = Wakeup()
    runs = asyncio.Queue()

    async def run(now):
        await runs.put(now)
        return T0 + timedelta(days=30)  # nothing due for a long time

    task = asyncio.create_task(
        run_on_timers("unit-test-wake", run, clock=clock, wakeup=wakeup, floor_s=0.01, ceiling_s=60)
    )
    try:
        await asyncio.wait_for(runs.get(), 5)
        wakeup.wake()
        await asyncio.wait_for(runs.get(), 5)  # without the wake-up: 60 s
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
