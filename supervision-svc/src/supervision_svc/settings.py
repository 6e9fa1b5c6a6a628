"""Settings of the supervision service: the platform's, plus its own `SUPERVISION_*` variables.

Built by `get_supervision_settings()` when called, never at import time.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings, build_settings


class SupervisionSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="SUPERVISION_", extra="ignore", populate_by_name=True
    )
    service_name: ClassVar[str] = "supervision"
    default_port: ClassVar[int] = 8002

    sweep_interval_days: float = Field(
        default=0.01, gt=0, description="How often (in platform days) overdue rules are swept."
    )


def get_supervision_settings(**overrides: object) -> SupervisionSettings:
    """Read the settings from the environment now; keyword overrides win (tests, composition)."""
    return build_settings(SupervisionSettings, **overrides)
