"""Settings come from the environment, read when built (never at import time)."""

from __future__ import annotations

import importlib
import pkgutil
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

import shared
from shared.settings import (
    PlatformSettings,
    ServiceSettings,
    build_settings,
    get_platform_settings,
)


class ExampleSettings(ServiceSettings):
    """A service as each one declares its own settings class (in its own package)."""

    model_config = SettingsConfigDict(env_prefix="EXAMPLE_", extra="ignore", populate_by_name=True)
    service_name: ClassVar[str] = "example"
    default_port: ClassVar[int] = 8009


def get_example_settings(**overrides: object) -> ExampleSettings:
    return build_settings(ExampleSettings, **overrides)


class OtherSettings(ServiceSettings):
    """A second service, to show that one service's variables stay its own."""

    model_config = SettingsConfigDict(env_prefix="OTHER_", extra="ignore", populate_by_name=True)
    service_name: ClassVar[str] = "other"
    default_port: ClassVar[int] = 8008


def get_other_settings(**overrides: object) -> OtherSettings:
    return build_settings(OtherSettings, **overrides)


ENV_NAMES = [
    "KAFKA_BOOTSTRAP_SERVERS", "BROKER_PORT", "KAFKA_TOPIC_PARTITIONS", "KAFKA_REPLICATION_FACTOR",
    "KAFKA_REBALANCE_TIMEOUT_S", "PLATFORM_JWT_SECRET", "PLATFORM_DAY_SECONDS",
    "PLATFORM_CLOCK_EPOCH", "PLATFORM_DATA_DIR", "PLATFORM_LOG_LEVEL", "PLATFORM_LOG_JSON",
    *(f"{p}_{n}" for p in ("EXAMPLE", "OTHER")
      for n in ("DATABASE_URL", "PORT", "HOST", "CONSUMER_GROUP", "CONSUMER_BATCH_WINDOW_MS",
                "CONSUMER_FETCH_MIN_BYTES")),
    "DATABASE_URL", "PORT",
]  # fmt: skip


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env or data dir of the developer


def test_defaults_match_the_contract() -> None:
    example = get_example_settings()
    other = get_other_settings()
    platform = get_platform_settings()

    assert (example.port, other.port) == (8009, 8008)
    assert platform.broker_port == 9092
    assert platform.bootstrap_servers == "127.0.0.1:9092"
    assert platform.embedded_broker is True
    assert platform.topic_partitions == 6
    assert platform.day_seconds == 86_400
    assert platform.jwt_secret is None
    assert example.resolved_database_url == "sqlite:///data/example.db"
    assert (example.group_id, other.group_id) == ("example-svc", "other-svc")
    assert (example.consumer_batch_size, example.consumer_batch_window_ms) == (500, 50)


def test_shared_variables_are_read_by_every_build_function(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9093,kafka-2:9093")
    monkeypatch.setenv("PLATFORM_JWT_SECRET", "s3cret")
    monkeypatch.setenv("PLATFORM_DAY_SECONDS", "60")
    monkeypatch.setenv("KAFKA_TOPIC_PARTITIONS", "12")
    monkeypatch.setenv("PLATFORM_CLOCK_EPOCH", "2025-01-01T00:00:00Z")

    for build in (get_platform_settings, get_example_settings, get_other_settings):
        settings = build()
        assert settings.bootstrap_servers == "kafka-1:9093,kafka-2:9093"
        assert settings.embedded_broker is False
        assert settings.require_jwt_secret() == "s3cret"
        assert settings.day_seconds == 60.0
        assert settings.topic_partitions == 12
        assert settings.clock_epoch == datetime(2025, 1, 1, tzinfo=UTC)


def test_broker_port_moves_the_embedded_bootstrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKER_PORT", "19092")

    settings = get_example_settings()

    assert settings.broker_port == 19092
    assert settings.bootstrap_servers == "127.0.0.1:19092"
    assert settings.embedded_broker is True


def test_service_variables_carry_their_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_DATABASE_URL", "postgresql://u@db/example")
    monkeypatch.setenv("EXAMPLE_PORT", "9101")
    monkeypatch.setenv("OTHER_PORT", "9102")
    monkeypatch.setenv("EXAMPLE_CONSUMER_BATCH_WINDOW_MS", "120")

    example = get_example_settings()

    assert example.resolved_database_url == "postgresql://u@db/example"
    assert example.port == 9101
    assert example.consumer_batch_window_ms == 120
    assert get_other_settings().consumer_batch_window_ms == 50
    assert get_other_settings().port == 9102
    # one service's variables do not leak into another's
    assert get_other_settings().resolved_database_url == "sqlite:///data/other.db"


def test_settings_are_read_when_built_not_when_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    before = get_example_settings()
    monkeypatch.setenv("EXAMPLE_PORT", "9555")

    after = get_example_settings()

    assert before.port == 8009
    assert after.port == 9555


def test_no_shared_module_builds_settings_at_import() -> None:
    built = []
    for info in pkgutil.iter_modules(shared.__path__):
        module = importlib.import_module(f"shared.{info.name}")
        built += [
            f"shared.{info.name}.{name}"
            for name, value in vars(module).items()
            if isinstance(value, PlatformSettings)
        ]
    assert built == []


def test_keyword_overrides_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_PORT", "9101")

    settings = get_example_settings(port=9999, kafka_bootstrap_servers="h:1")

    assert settings.port == 9999
    assert settings.bootstrap_servers == "h:1"


@pytest.mark.parametrize("secret", [None, ""])
def test_require_jwt_secret_refuses_without_a_secret(
    monkeypatch: pytest.MonkeyPatch, secret: str | None
) -> None:
    if secret is not None:
        monkeypatch.setenv("PLATFORM_JWT_SECRET", secret)

    with pytest.raises(RuntimeError, match="PLATFORM_JWT_SECRET"):
        get_example_settings().require_jwt_secret()


def test_the_secret_is_not_shown_in_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATFORM_JWT_SECRET", "very-secret-value")

    settings = get_example_settings()

    assert "very-secret-value" not in repr(settings)
    assert "very-secret-value" not in settings.model_dump_json()


@pytest.mark.parametrize(
    ("name", "value"),
    [("KAFKA_TOPIC_PARTITIONS", "0"), ("PLATFORM_DAY_SECONDS", "0"), ("EXAMPLE_PORT", "70000"),
     ("BROKER_PORT", "not-a-port"), ("EXAMPLE_CONSUMER_BATCH_WINDOW_MS", "-1")],
)  # fmt: skip
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError):
        get_example_settings()


def test_a_consumer_fetch_answers_at_once_unless_the_service_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert get_example_settings().consumer_fetch_min_bytes == 1
    monkeypatch.setenv("EXAMPLE_CONSUMER_FETCH_MIN_BYTES", "65536")
    assert get_example_settings().consumer_fetch_min_bytes == 65_536
    assert get_other_settings().consumer_fetch_min_bytes == 1
    monkeypatch.setenv("EXAMPLE_CONSUMER_FETCH_MIN_BYTES", "0")
    with pytest.raises(ValidationError):
        get_example_settings()
