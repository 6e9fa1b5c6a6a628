"""Settings of the approval service, read from the environment when built (never at import)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings, build_settings


class ApprovalSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="APPROVAL_", extra="ignore", populate_by_name=True)
    service_name: ClassVar[str] = "approval"
    default_port: ClassVar[int] = 8001

    catalogue_path: Path | None = Field(
        default=None, description="Catalogue data file; unset means the bundled one."
    )
    sweep_interval_days: float = Field(
        default=0.01, gt=0, description="How often (in platform days) deemed consent is swept."
    )
    in_flight_interval_s: float = Field(
        default=15.0, gt=0, description="How often (seconds) projects_in_flight is recounted."
    )
    sweep_floor_s: float = Field(
        default=0.25,
        ge=0,
        description="Real seconds at least between two sweeps: compressed platform days "
        "(PLATFORM_DAY_SECONDS) must not make an idle service spin.",
    )


def get_approval_settings(**overrides: object) -> ApprovalSettings:
    return build_settings(ApprovalSettings, **overrides)
