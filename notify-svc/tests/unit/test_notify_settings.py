"""The notify service's settings: defaults and `NOTIFY_*` variables, read when built."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from notify_svc.settings import NotifySettings, get_notify_settings

ENV_NAMES = [
    "KAFKA_BOOTSTRAP_SERVERS", "PLATFORM_JWT_SECRET", "PLATFORM_DATA_DIR",
    *(f"{p}_{n}" for p in ("APPROVAL", "NOTIFY")
      for n in ("DATABASE_URL", "PORT", "HOST", "CONSUMER_GROUP", "WEBHOOK_TIMEOUT_S",
                "WEBHOOK_MAX_ATTEMPTS")),
    "DATABASE_URL", "PORT",
]  # fmt: skip


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env or data dir of the developer


def test_defaults() -> None:
    settings = get_notify_settings()

    assert NotifySettings.service_name == "notify"
    assert settings.port == 8003
    assert settings.group_id == "notify-svc"
    assert settings.resolved_database_url == "sqlite:///data/notify.db"
    assert (settings.webhook_timeout_s, settings.webhook_max_attempts) == (5.0, 5)


def test_own_variables_carry_the_notify_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_PORT", "9103")
    monkeypatch.setenv("NOTIFY_CONSUMER_GROUP", "notify-blue")
    monkeypatch.setenv("NOTIFY_WEBHOOK_MAX_ATTEMPTS", "7")
    monkeypatch.setenv("APPROVAL_DATABASE_URL", "postgresql://u@db/approval")
    monkeypatch.setenv("APPROVAL_PORT", "9101")

    settings = get_notify_settings()

    assert (settings.port, settings.group_id) == (9103, "notify-blue")
    assert settings.webhook_max_attempts == 7
    # another service's variables do not leak in
    assert settings.resolved_database_url == "sqlite:///data/notify.db"


def test_read_when_built_overrides_win_and_the_secret_stays_hidden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = get_notify_settings()
    monkeypatch.setenv("NOTIFY_PORT", "9555")
    monkeypatch.setenv("PLATFORM_JWT_SECRET", "very-secret-value")

    assert before.port == 8003
    assert get_notify_settings().port == 9555
    assert get_notify_settings(port=9999).port == 9999
    assert "very-secret-value" not in repr(get_notify_settings())


@pytest.mark.parametrize(
    ("name", "value"), [("NOTIFY_WEBHOOK_TIMEOUT_S", "0"), ("NOTIFY_WEBHOOK_MAX_ATTEMPTS", "0")]
)
def test_nonsense_is_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError, match=name.removeprefix("NOTIFY_").lower()):
        get_notify_settings()


def test_the_consumers_gather_their_fetches_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Off the path of an approval: a fetch may wait for more events (see the README row).
    assert get_notify_settings().consumer_fetch_min_bytes == 65_536
    monkeypatch.setenv("NOTIFY_CONSUMER_FETCH_MIN_BYTES", "1")
    assert get_notify_settings().consumer_fetch_min_bytes == 1
