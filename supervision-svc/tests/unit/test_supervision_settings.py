"""The supervision service's settings: defaults and `SUPERVISION_*` variables, read when built."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from supervision_svc.settings import SupervisionSettings, get_supervision_settings

ENV_NAMES = [
    "KAFKA_BOOTSTRAP_SERVERS", "PLATFORM_JWT_SECRET", "PLATFORM_DAY_SECONDS",
    "PLATFORM_CLOCK_EPOCH", "PLATFORM_DATA_DIR",
    *(f"{p}_{n}" for p in ("APPROVAL", "SUPERVISION")
      for n in ("DATABASE_URL", "PORT", "HOST", "CONSUMER_GROUP", "TIMER_FLOOR_S",
                "TIMER_CEILING_S", "RULES_FILE")),
    "DATABASE_URL", "PORT",
]  # fmt: skip


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env or data dir of the developer


def test_defaults() -> None:
    settings = get_supervision_settings()

    assert SupervisionSettings.service_name == "supervision"
    assert settings.port == 8002
    assert settings.group_id == "supervision-svc"
    assert settings.resolved_database_url == "sqlite:///data/supervision.db"
    assert (settings.timer_floor_s, settings.timer_ceiling_s) == (0.2, 30.0)
    assert settings.rules_file is None


def test_own_variables_carry_the_supervision_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPERVISION_PORT", "9102")
    monkeypatch.setenv("SUPERVISION_TIMER_CEILING_S", "5")
    monkeypatch.setenv("APPROVAL_DATABASE_URL", "postgresql://u@db/approval")
    monkeypatch.setenv("APPROVAL_PORT", "9101")

    settings = get_supervision_settings()

    assert settings.port == 9102
    assert settings.timer_ceiling_s == 5.0
    # another service's variables do not leak in
    assert settings.resolved_database_url == "sqlite:///data/supervision.db"


def test_platform_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9093")
    monkeypatch.setenv("PLATFORM_JWT_SECRET", "s3cret")
    monkeypatch.setenv("PLATFORM_CLOCK_EPOCH", "2025-01-01T00:00:00Z")

    settings = get_supervision_settings()

    assert settings.bootstrap_servers == "kafka-1:9093"
    assert settings.require_jwt_secret() == "s3cret"
    assert settings.clock_epoch == datetime(2025, 1, 1, tzinfo=UTC)


def test_read_when_built_and_overrides_win(monkeypatch: pytest.MonkeyPatch) -> None:
    before = get_supervision_settings()
    monkeypatch.setenv("SUPERVISION_PORT", "9555")

    assert before.port == 8002
    assert get_supervision_settings().port == 9555
    assert get_supervision_settings(port=9999).port == 9999


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_the_timer_floor_must_be_a_positive_number(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SUPERVISION_TIMER_FLOOR_S", value)

    with pytest.raises(ValidationError, match="timer_floor_s"):
        get_supervision_settings()


def test_the_projection_gathers_its_fetches_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Off the path of an approval: a fetch may wait for more events (see the README row).
    assert get_supervision_settings().consumer_fetch_min_bytes == 65_536
    monkeypatch.setenv("SUPERVISION_CONSUMER_FETCH_MIN_BYTES", "1")
    assert get_supervision_settings().consumer_fetch_min_bytes == 1
