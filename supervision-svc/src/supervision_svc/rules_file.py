"""Loads the rule thresholds from their data file (`data/rules.yaml` unless configured),
validated: a bad file stops the service at start with a message naming the field."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from supervision_svc.domain.thresholds import Thresholds


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _ApprovalOverdue(_Section):
    yellow_ratio: float = Field(gt=0, lt=1)


class _StartOverdue(_Section):
    grace_days: int = Field(ge=0)
    red_after_days: int = Field(gt=0)


class _ProgressMissing(_Section):
    yellow_days: int = Field(gt=0)
    red_days: int = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.red_days <= self.yellow_days:
            raise ValueError("red_days must be greater than yellow_days")
        return self


class _ProgressBehind(_Section):
    yellow_points: float = Field(gt=0, le=100)
    red_points: float = Field(gt=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.red_points < self.yellow_points:
            raise ValueError("red_points must not be less than yellow_points")
        return self


class _Credit(_Section):
    abnormal_ordinary_records: int = Field(ge=1)
    ordinary_window_days: int = Field(gt=0)
    abnormal_serious_records: int = Field(ge=1)
    dishonest_serious_records: int = Field(ge=1)
    dishonest_serious_uncorrected_days: int = Field(gt=0)


class RulesFile(_Section):
    version: int = Field(ge=1)
    approval_overdue: _ApprovalOverdue
    start_overdue: _StartOverdue
    progress_missing: _ProgressMissing
    progress_behind: _ProgressBehind
    credit: _Credit

    def thresholds(self) -> Thresholds:
        return Thresholds(
            approval_yellow_ratio=self.approval_overdue.yellow_ratio,
            start_grace_days=self.start_overdue.grace_days,
            start_red_after_days=self.start_overdue.red_after_days,
            progress_missing_yellow_days=self.progress_missing.yellow_days,
            progress_missing_red_days=self.progress_missing.red_days,
            behind_yellow_points=self.progress_behind.yellow_points,
            behind_red_points=self.progress_behind.red_points,
            **self.credit.model_dump(),
        )


class RulesFileError(ValueError):
    """The rules file cannot be read or is not valid."""


def load_thresholds(path: Path | None = None) -> Thresholds:
    """The thresholds of `path`, or of the bundled `data/rules.yaml`."""
    source = str(path) if path is not None else "bundled rules.yaml"
    try:
        if path is None:
            text = resources.files("supervision_svc.data").joinpath("rules.yaml").read_text("utf-8")
        else:
            text = path.read_text("utf-8")
        raw = yaml.safe_load(text)
        return RulesFile.model_validate(raw).thresholds()
    except (OSError, yaml.YAMLError) as exc:
        raise RulesFileError(f"{source}: cannot be read: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise RulesFileError(f"{source}: {problems}") from exc
