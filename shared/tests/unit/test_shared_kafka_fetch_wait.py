"""The services' faust consumers wait on empty partitions as long as the setting says, not the
1.5 s faust writes into its code."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.kafka import make_faust_app
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


def test_the_default_is_short() -> None:
    assert build_settings(PlatformSettings).kafka_fetch_max_wait_ms <= 100
