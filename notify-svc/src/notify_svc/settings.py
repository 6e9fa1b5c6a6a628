"""Settings of the notify service: the platform's, plus its own `NOTIFY_*` variables.

Built by `get_notify_settings()` when called, never at import time.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings, build_settings


class NotifySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFY_", extra="ignore", populate_by_name=True)
    service_name: ClassVar[str] = "notify"
    default_port: ClassVar[int] = 8003

    # Off the path of an approval (nothing waits on these projections to answer a request):
    # fuller batches cost less CPU per event, which the services on that path then have.
    consumer_batch_window_ms: int = Field(default=200, ge=0, le=10_000)
    consumer_fetch_min_bytes: int = Field(default=65_536, ge=1, le=52_428_800)

    webhook_timeout_s: float = Field(
        default=5.0, gt=0, description="How long one webhook POST may take (real seconds)."
    )
    webhook_max_attempts: int = Field(
        default=5, ge=1, description="Attempts of a webhook or e-mail delivery before it fails."
    )
    webhook_allow_private: bool = Field(
        default=False,
        description=(
            "Admit webhook targets on loopback and private addresses (local development). "
            "Link-local, multicast and unspecified addresses stay refused."
        ),
    )
    smtp_host: str | None = Field(
        default=None, description="Mail server for e-mail; unset means e-mail is off."
    )
    smtp_port: int = Field(default=25, ge=1, le=65535, description="Port of the mail server.")
    smtp_username: str | None = Field(default=None, description="SMTP login, if it needs one.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")
    smtp_starttls: bool = Field(
        default=False, description="Upgrade the SMTP connection with STARTTLS before sending."
    )
    smtp_from: str = Field(
        default="notify@investment-platform.local",
        min_length=3,
        description="Sender address of the platform's e-mail.",
    )
    smtp_timeout_s: float = Field(default=10.0, gt=0, description="Timeout of one SMTP send.")
    stream_retention_hours: float = Field(
        default=24.0,
        gt=0,
        description="How long (real hours) the stream keeps events for clients that reconnect.",
    )
    delivery_retention_hours: float = Field(
        default=168.0,
        gt=0,
        description=(
            "How long (platform hours) the body of a finished delivery is kept "
            "(the delivery record itself stays)."
        ),
    )

    @property
    def email_enabled(self) -> bool:
        return bool(self.smtp_host)


def get_notify_settings(**overrides: object) -> NotifySettings:
    """Read the settings from the environment now; keyword overrides win (tests, composition)."""
    return build_settings(NotifySettings, **overrides)
