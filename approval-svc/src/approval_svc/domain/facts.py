"""The facts of a submission that routing looks at.

Only the trigger fields live here, not the whole request body: routing must not depend on names,
descriptions or locations. Each field is classified by kind so catalogue rules can be checked when
the catalogue loads (a rule comparing a boolean with ``ge`` is a data bug, caught early).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

Procedure = Literal["approval", "verification", "filing"]
EiaCategory = Literal["report", "table", "registration", "none"]

PROCEDURES: tuple[str, ...] = get_args(Procedure)
EIA_CATEGORIES: tuple[str, ...] = get_args(EiaCategory)


class SubmissionFacts(BaseModel):
    """Trigger fields of a submission; optional ones default to "not applicable"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    procedure: Procedure
    # Money is exact: Decimal in, Decimal compared. Never a float.
    total_investment: Decimal = Field(default=Decimal(0), ge=0)
    land_needs_new_land: bool = False
    land_area_m2: Decimal | None = Field(default=None, ge=0)
    eia_category: EiaCategory = "none"
    annual_energy_tce: Decimal | None = Field(default=None, ge=0)
    building_area_m2: Decimal | None = Field(default=None, ge=0)
    water_withdrawal: bool = False
    uses_forest_land: bool = False
    near_cultural_relics: bool = False
    hazardous_chemicals: bool = False
    in_flood_zone: bool = False
    foreign_investment: bool = False


# Field kinds, used to validate routing conditions against the operators they may use.
NUMERIC_FIELDS: frozenset[str] = frozenset(
    {"total_investment", "land_area_m2", "annual_energy_tce", "building_area_m2"}
)
BOOL_FIELDS: frozenset[str] = frozenset(
    {
        "land_needs_new_land",
        "water_withdrawal",
        "uses_forest_land",
        "near_cultural_relics",
        "hazardous_chemicals",
        "in_flood_zone",
        "foreign_investment",
    }
)
CHOICE_FIELDS: dict[str, tuple[str, ...]] = {
    "procedure": PROCEDURES,
    "eia_category": EIA_CATEGORIES,
}

assert NUMERIC_FIELDS | BOOL_FIELDS | set(CHOICE_FIELDS) == set(SubmissionFacts.model_fields)
