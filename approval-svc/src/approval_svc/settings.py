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
    in_flight_interval_s: float = Field(
        default=15.0, gt=0, description="How often (seconds) projects_in_flight is recounted."
    )
    sweep_floor_s: float = Field(
        default=0.25,
        ge=0,
        description="Real seconds at least between two consultation sweeps, or two looks at "
        "the next reply limit after commits: a burst of work or a manual clock never spins it.",
    )
    sweep_ceiling_s: float = Field(
        default=30.0,
        gt=0,
        description="Real seconds at most between two consultation sweeps (the sweep otherwise "
        "sleeps until the next reply limit falls due): a safety net for consultations another "
        "instance recorded.",
    )

    consumer_batch_window_ms: int = Field(
        default=10,
        ge=0,
        le=10_000,
        description="How long a batch of decisions, opened by its first event, waits for more: "
        "every approval waits it once, so it is short. Under load batches still fill, with what "
        "queued while the previous batch was applied.",
    )
    submit_group_max: int = Field(
        default=64,
        ge=1,
        le=1000,
        description="Most submissions committed together in one transaction: the requests "
        "that arrive while the previous group commits share the next (1: no grouping).",
    )


def get_approval_settings(**overrides: object) -> ApprovalSettings:
    return build_settings(ApprovalSettings, **overrides)
