"""Settings of the supervision service: the platform's, plus its own `SUPERVISION_*` variables.

Built by `get_supervision_settings()` when called, never at import time.
"""

from __future__ import annotations

from pathlib import Path
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

    # Off the path of an approval (nothing waits on these projections to answer a request):
    # fuller batches cost less CPU per event, which the services on that path then have.
    consumer_batch_window_ms: int = Field(default=200, ge=0, le=10_000)
    consumer_fetch_min_bytes: int = Field(default=65_536, ge=1, le=52_428_800)

    timer_floor_s: float = Field(
        default=0.2,
        gt=0,
        description="Least real time between two runs of the time rules (no spinning).",
    )
    timer_ceiling_s: float = Field(
        default=30.0,
        gt=0,
        description="Most real time between two runs of the time rules (a safety net).",
    )
    rules_file: Path | None = Field(
        default=None, description="YAML file of rule thresholds (default: the bundled one)."
    )


def get_supervision_settings(**overrides: object) -> SupervisionSettings:
    """Read the settings from the environment now; keyword overrides win (tests, composition)."""
    return build_settings(SupervisionSettings, **overrides)
