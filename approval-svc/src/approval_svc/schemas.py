"""Request bodies and responses of the approval API (the contract's shapes)."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, field_validator

from approval_svc.domain.commands import Actor, DecideTask
from approval_svc.domain.errors import InvalidIdentifier
from approval_svc.domain.facts import SubmissionFacts
from approval_svc.domain.identifiers import validate_industry_code, validate_region_code
from shared.events import CloudEvent, ProjectData, TaskData

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
# Yuan with at most fen precision; never a float on the way in or out.
Money = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2, allow_inf_nan=False)]
Measure = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=4, allow_inf_nan=False)]


class Strict(BaseModel):
    # Unknown fields are refused: a misspelt trigger field would otherwise silently skip a
    # department's review.
    model_config = ConfigDict(extra="forbid")


class LandIn(Strict):
    needs_new_land: bool = False
    area_m2: Measure | None = None


class ProjectIn(Strict):
    name: Annotated[Text, StringConstraints(max_length=200)]
    region_code: Annotated[str, StringConstraints(pattern=r"^\d{6}$")]
    industry_code: Annotated[str, StringConstraints(max_length=8)]
    procedure: Literal["approval", "verification", "filing"]
    total_investment: Money
    location: Annotated[Text, StringConstraints(max_length=500)]
    planned_start: date
    description: Annotated[str, StringConstraints(max_length=5000)] = ""
    land: LandIn = Field(default_factory=LandIn)
    eia_category: Literal["report", "table", "registration", "none"] = "none"
    annual_energy_tce: Measure | None = None
    building_area_m2: Measure | None = None
    water_withdrawal: bool = False
    uses_forest_land: bool = False
    near_cultural_relics: bool = False
    hazardous_chemicals: bool = False
    in_flood_zone: bool = False
    foreign_investment: bool = False
    contact_email: EmailStr | None = Field(
        default=None,
        max_length=254,
        description="Told by e-mail of supplement requests, the final result and alerts.",
    )

    def fingerprint(self) -> str:
        """Of the request as parsed: a retry with the same key must carry the same one."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def facts(self) -> SubmissionFacts:
        """What routing looks at."""
        return SubmissionFacts(
            procedure=self.procedure,
            total_investment=self.total_investment,
            land_needs_new_land=self.land.needs_new_land,
            land_area_m2=self.land.area_m2,
            eia_category=self.eia_category,
            annual_energy_tce=self.annual_energy_tce,
            building_area_m2=self.building_area_m2,
            water_withdrawal=self.water_withdrawal,
            uses_forest_land=self.uses_forest_land,
            near_cultural_relics=self.near_cultural_relics,
            hazardous_chemicals=self.hazardous_chemicals,
            in_flood_zone=self.in_flood_zone,
            foreign_investment=self.foreign_investment,
        )

    def details(self) -> dict[str, Any]:
        """The trigger fields as submitted (JSON), kept with the project for the record, and
        the contact address when one was given (it routes nothing, but is kept the same way)."""
        details = self.model_dump(mode="json", include=set(TRIGGER_FIELDS))
        if self.contact_email is not None:
            details["contact_email"] = self.contact_email
        return details

    @field_validator("region_code")
    @classmethod
    def _real_region(cls, value: str) -> str:
        try:
            return validate_region_code(value)
        except InvalidIdentifier as exc:
            raise ValueError(exc.message) from None

    @field_validator("industry_code")
    @classmethod
    def _real_industry(cls, value: str) -> str:
        try:
            return validate_industry_code(value)
        except InvalidIdentifier as exc:
            raise ValueError(exc.message) from None


TRIGGER_FIELDS = (
    "land",
    "eia_category",
    "annual_energy_tce",
    "building_area_m2",
    "water_withdrawal",
    "uses_forest_land",
    "near_cultural_relics",
    "hazardous_chemicals",
    "in_flood_zone",
    "foreign_investment",
)


class DecisionIn(Strict):
    decision: Literal["approved", "rejected", "supplement_required"]
    opinion: Annotated[str, StringConstraints(max_length=5000)] | None = None
    missing_materials: list[Annotated[Text, StringConstraints(max_length=500)]] = Field(
        default_factory=list, max_length=100
    )

    def command(
        self, *, task_id: str, department: str, actor: Actor, causation: CloudEvent | None = None
    ) -> DecideTask:
        """The decision as a command, whether it came by HTTP or by Kafka."""
        return DecideTask(
            task_id=task_id,
            department=department,
            decision=self.decision,
            opinion=self.opinion,
            missing_materials=tuple(self.missing_materials),
            actor=actor,
            causation=causation,
        )


class SupplementIn(Strict):
    materials: list[Annotated[Text, StringConstraints(max_length=500)]] = Field(
        min_length=1, max_length=100
    )


class TimelineItem(BaseModel):
    at: datetime
    action: str
    actor: str
    actor_role: str
    task_id: str | None = None
    department: str | None = None
    detail: dict[str, object] = Field(default_factory=dict)


class MatterOut(BaseModel):
    matter_code: str
    name: str
    name_zh: str
    legal_limit: int
    promised_limit: int
    day_kind: Literal["working", "calendar"]
    consultative: bool
    estimated: bool


class DepartmentOut(BaseModel):
    code: str
    name: str
    name_zh: str
    matters: list[MatterOut]


class PublicResult(BaseModel):
    project_name: str
    project_code: str
    department: str
    issuing_department: str
    matter_code: str
    matter: str
    decision: str
    decided_date: date
    document_number: str


__all__ = [
    "DecisionIn",
    "DepartmentOut",
    "MatterOut",
    "ProjectData",
    "ProjectIn",
    "PublicResult",
    "SupplementIn",
    "TaskData",
    "TimelineItem",
]
