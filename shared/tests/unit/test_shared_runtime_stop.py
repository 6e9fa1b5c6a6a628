"""ServiceRuntime.stop() ends its jobs even when one cancel is lost on the way.

Python 3.11's `asyncio.wait_for` returns its inner call's result, dropping the cancel, when
both land in the same loop iteration; library code (aiokafka, mode) swallows cancels too. The
broker and faust are replaced here by stand-ins that swallow exactly one cancel, as that race
does, so the outcome is the same on every run.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from shared import runtime as runtime_module
from shared.events import CloudEvent
from shared.outbox import UnitOfWork
from shared.runtime import ServiceRuntime
from shared.settings import ServiceSettings, build_settings


async def _ignore(event: CloudEvent, uow: UnitOfWork) -> None:
    return None


def _runtime(tmp_path: Path) -> ServiceRuntime:
    settings = build_settings(
        ServiceSettings,
        # Nothing listens there; the stand-ins below answer instead of the broker.
        kafka_bootstrap_servers="127.0.0.1:9",
        database_url=f"sqlite:///{tmp_path / 'runtime.db'}",
    )
    runtime = ServiceRuntime(settings, relay=False)
    runtime.consume("stop-test", topics=["stop.test"], handlers={"x": _ignore})
    return runtime


async def test_a_stop_whose_cancel_is_lost_starts_no_consumers_afterwards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = _runtime(tmp_path)
    waiting_for_broker = asyncio.Event()

    async def reachable_after_a_lost_cancel(_servers: str) -> str | None:
        waiting_for_broker.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            return None  # the cancel is lost and the broker "answered"
        return None

    async def epoch(*, wait_s: float) -> str:
        return "same-epoch"

    starts: list[str] = []

    async def start() -> None:
        starts.append("faust started")

    monkeypatch.setattr(runtime_module, "broker_reachable", reachable_after_a_lost_cancel)
    monkeypatch.setattr(runtime, "_consumed_epoch", epoch)
    monkeypatch.setattr(runtime.faust, "start", start)
    runtime._epoch = "same-epoch"  # so that the app under the stand-in `start` is kept

    await runtime.start()
    jobs = list(runtime._tasks)
    await waiting_for_broker.wait()
    await runtime.stop()

    assert starts == []
    assert [job.get_name() for job in jobs if not job.done()] == []


async def test_a_job_that_swallows_one_cancel_still_ends_with_the_stop(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path)
    runtime._consume = False  # only the job below and the readiness gauge
    swallowed = asyncio.Event()
    started = asyncio.Event()

    async def stubborn() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            swallowed.set()
        await asyncio.Event().wait()  # ends only with a second cancel

    runtime.background("stubborn", stubborn)
    await runtime.start()
    jobs: list[asyncio.Task[Any]] = list(runtime._tasks)
    await started.wait()
    await runtime.stop()

    assert swallowed.is_set()
    assert [job.get_name() for job in jobs if not job.done()] == []


async def test_the_relay_and_the_consumers_share_one_topic_id_client(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path)
    try:
        # Each topic-id client holds a broker connection of its own; one per process is enough.
        assert runtime.relay._topic_ids is runtime.topic_ids
    finally:
        await runtime.engine.dispose()
        await runtime.read_engine.dispose()


async def test_a_stop_lets_a_readiness_ping_in_flight_finish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = _runtime(tmp_path)
    runtime._consume = False  # only the readiness gauge
    pinging = asyncio.Event()
    outcomes: list[str] = []

    async def slow_ping(_engine: Any) -> None:
        pinging.set()
        try:
            await asyncio.sleep(0.2)  # a connection being opened
        except asyncio.CancelledError:
            outcomes.append("cancelled")
            raise
        outcomes.append("answered")

    async def no_broker(_servers: str) -> str | None:
        return None

    monkeypatch.setattr(runtime_module, "ping", slow_ping)
    monkeypatch.setattr(runtime_module, "broker_reachable", no_broker)

    await runtime.start()
    await pinging.wait()
    await runtime.stop()

    assert outcomes == ["answered"]


async def test_readiness_checks_share_the_ping_of_a_database_that_hangs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = _runtime(tmp_path)
    pings: list[int] = []
    pinging = asyncio.Event()
    release = asyncio.Event()

    async def hanging_ping(_engine: Any) -> None:
        pings.append(1)
        pinging.set()
        await release.wait()
        raise ConnectionError("the database went away")

    async def no_broker(_servers: str) -> str | None:
        return None

    monkeypatch.setattr(runtime_module, "ping", hanging_ping)
    monkeypatch.setattr(runtime_module, "broker_reachable", no_broker)
    try:
        checks = asyncio.gather(runtime.readiness(), runtime.readiness())
        await pinging.wait()  # both checks are waiting by now: the ping runs after them
        release.set()
        first, second = await checks

        assert pings == [1]
        assert first == second == ["database unreachable: ConnectionError: the database went away"]
        assert await runtime.readiness() == first  # the next check pings again
        assert pings == [1, 1]
    finally:
        await runtime.engine.dispose()
        await runtime.read_engine.dispose()
