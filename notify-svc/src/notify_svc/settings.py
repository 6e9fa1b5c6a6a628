"""Settings of the notify service: the platform's, plus its own `NOTIFY_*` variables.

Built by `get_notify_settings()` when called, never at import time.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings, build_settings


class NotifySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFY_", extra="ignore", populate_by_name=True)
    service_name: ClassVar[str] = "notify"
    default_port: ClassVar[int] = 8003

    webhook_timeout_s: float = Field(
        default=5.0, gt=0, description="How long one webhook POST may take (real seconds)."
    )
    webhook_max_attempts: int = Field(
        default=5, ge=1, description="Attempts of a webhook or e-mail delivery before it fails."
    )


def get_notify_settings(**overrides: object) -> NotifySettings:
    """Read the settings from the environment now; keyword overrides win (tests, composition)."""
    return build_settings(NotifySettings, **overrides)
