"""The sweep scheduler: a failing sweep is retried at the next interval; each completed one counts."""

import asyncio

import pytest

from shared.clock import ManualClock
from supervision_svc.metrics import SWEEPS_COMPLETED
from supervision_svc.scheduler import run_periodically

from supervision_fakes import T0


async def test_a_failure_is_not_fatal_and_only_completed_sweeps_count():
    clock = ManualClock(T0)
    seen = []

    async def sweep(now):
        seen.append(now)
        if len(seen) == 1:
            raise RuntimeError("database away")
        if len(seen) == 3:
            raise asyncio.CancelledError  # the app stops
        return None

    counter = SWEEPS_COMPLETED.labels("unit-test-sweep")
    before = counter._value.get()

    with pytest.raises(asyncio.CancelledError):
        await run_periodically("unit-test-sweep", sweep, clock=clock, interval_days=1)

    assert seen == [T0, T0, T0]  # the sweep is given the platform time
    assert counter._value.get() == before + 1
