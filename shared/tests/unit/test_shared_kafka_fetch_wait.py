"""The services' faust consumers wait on empty partitions as long as the setting says, not the
1.5 s faust writes into its code."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.fetch_wait import IdleFetchBackoff
from shared.kafka import (
    FETCH_ROUTINE_TIMEOUT_MS,
    aiokafka_wait_setter,
    install_on_aiokafka,
    make_faust_app,
)
from shared.settings import PlatformSettings, build_settings


@pytest.mark.parametrize("wait_ms", [25, 100, 900])
async def test_the_consumer_fetch_wait_is_the_setting(tmp_path: Path, wait_ms: int) -> None:
    settings = build_settings(PlatformSettings, kafka_fetch_max_wait_ms=wait_ms, data_dir=tmp_path)
    app = make_faust_app(f"fetch-wait-{wait_ms}", settings)
    consumer = app.consumer._thread._create_worker_consumer(app.transport)  # type: ignore[attr-defined]
    try:
        assert consumer._fetch_max_wait_ms == wait_ms
    finally:
        await consumer.stop()  # never started: only releases its client


@pytest.mark.parametrize("min_bytes", [1, 65_536])
async def test_the_consumer_fetch_min_bytes_is_the_setting(tmp_path: Path, min_bytes: int) -> None:
    settings = build_settings(PlatformSettings, data_dir=tmp_path)
    app = make_faust_app(f"fetch-min-{min_bytes}", settings, fetch_min_bytes=min_bytes)
    consumer = app.consumer._thread._create_worker_consumer(app.transport)  # type: ignore[attr-defined]
    try:
        assert consumer._fetch_min_bytes == min_bytes
    finally:
        await consumer.stop()  # never started: only releases its client


async def test_the_consumer_fetch_routine_wakes_by_itself_once_a_second(tmp_path: Path) -> None:
    settings = build_settings(PlatformSettings, data_dir=tmp_path)
    app = make_faust_app("fetch-routine", settings)
    consumer = app.consumer._thread._create_worker_consumer(app.transport)  # type: ignore[attr-defined]
    try:
        assert FETCH_ROUTINE_TIMEOUT_MS == 1000
        assert consumer._consumer_timeout == 1.0  # aiokafka's default: 0.2
    finally:
        await consumer.stop()  # never started: only releases its client


def test_the_default_is_short() -> None:
    assert build_settings(PlatformSettings).kafka_fetch_max_wait_ms <= 100


class _Fetcher:
    """Stands in for aiokafka's fetcher: the wait it reads and the answer handler it calls."""

    def __init__(self, answers: list[bool]) -> None:
        self._fetch_max_wait_ms = 1500
        self._answers = answers

    async def _proc_fetch_request(self, assignment: object, node_id: int, request: object) -> bool:
        return self._answers.pop(0)


async def test_an_idle_consumer_waits_longer_until_records_come_back() -> None:
    now = [0.0]
    fetcher = _Fetcher([False, False, False, True, False])
    backoff = IdleFetchBackoff(
        aiokafka_wait_setter(fetcher),
        busy_ms=100,
        idle_ms=1000,
        idle_after_s=10.0,
        clock=lambda: now[0],
    )
    install_on_aiokafka(fetcher, backoff)
    assert fetcher._fetch_max_wait_ms == 100

    now[0] = 5.0
    assert await fetcher._proc_fetch_request(None, 0, None) is False
    assert fetcher._fetch_max_wait_ms == 100  # quiet, but not for long enough yet
    now[0] = 10.0
    await fetcher._proc_fetch_request(None, 0, None)
    assert fetcher._fetch_max_wait_ms == 1000
    now[0] = 30.0
    await fetcher._proc_fetch_request(None, 0, None)
    assert fetcher._fetch_max_wait_ms == 1000
    assert await fetcher._proc_fetch_request(None, 0, None) is True
    assert fetcher._fetch_max_wait_ms == 100  # records: back to the short wait at once
    now[0] = 39.0
    await fetcher._proc_fetch_request(None, 0, None)
    assert fetcher._fetch_max_wait_ms == 100  # the quiet spell counts from the last records


def test_the_idle_wait_is_never_shorter_than_the_busy_one() -> None:
    fetcher = _Fetcher([])
    backoff = IdleFetchBackoff(
        aiokafka_wait_setter(fetcher), busy_ms=500, idle_ms=100, idle_after_s=1.0, clock=lambda: 5.0
    )
    backoff.observe(got_records=False)
    assert fetcher._fetch_max_wait_ms == 500
