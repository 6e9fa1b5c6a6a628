"""JSON logs on stderr that carry the service and the correlation id at hand."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from shared.logs import configure_logging, correlation_id

TOUCHED = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "aiokafka", "kafka", "faust", "mode")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    saved = {
        name: (logging.getLogger(name).handlers[:], logging.getLogger(name).level,
               logging.getLogger(name).propagate)
        for name in TOUCHED
    }  # fmt: skip
    yield
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def _lines(err: str) -> list[dict]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def test_json_lines_carry_the_correlation_id(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("approval", level="INFO")
    log = logging.getLogger("approval.test")
    token = correlation_id.set("corr-123")
    try:
        log.info("project %s submitted", "P-1")
    finally:
        correlation_id.reset(token)
    log.warning("outside any request")

    first, second = _lines(capsys.readouterr().err)
    assert first["message"] == "project P-1 submitted"
    assert first["correlation_id"] == "corr-123"
    assert first["service"] == "approval"
    assert first["level"] == "INFO"
    assert first["logger"] == "approval.test"
    assert "time" in first
    assert second["correlation_id"] is None
    assert second["level"] == "WARNING"


def test_level_filters_and_noisy_libraries_are_quieted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("notify", level="warning")

    logging.getLogger("notify.x").info("hidden")
    logging.getLogger("aiokafka").info("hidden too")
    logging.getLogger("notify.x").error("shown")

    lines = _lines(capsys.readouterr().err)
    assert [line["message"] for line in lines] == ["shown"]
    assert logging.getLogger("aiokafka").level >= logging.WARNING


def test_uvicorn_logs_go_through_the_same_handler(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("supervision")

    logging.getLogger("uvicorn.error").warning("server says hi")

    (line,) = _lines(capsys.readouterr().err)
    assert line["logger"] == "uvicorn.error"
    assert line["service"] == "supervision"


def test_plain_text_mode_shows_the_correlation_id(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("approval", json=False)
    token = correlation_id.set("corr-plain")
    try:
        logging.getLogger("approval").info("hello")
    finally:
        correlation_id.reset(token)

    err = capsys.readouterr().err
    assert "[corr-plain]" in err
    assert "hello" in err
