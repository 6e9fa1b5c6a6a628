"""Sample submissions (services.samples) are valid API bodies and route as documented."""

from __future__ import annotations

import random

import pytest
from stdnum.cn import uscc

from approval_svc.catalogue_file import load_catalogue
from approval_svc.domain.facts import SubmissionFacts
from approval_svc.domain.identifiers import validate_region_code
from approval_svc.domain.routing import route
from approval_svc.schemas import ProjectIn
from services import samples


def departments_of(body: dict) -> list[str]:
    project = ProjectIn.model_validate(body)  # refuses unknown fields and bad codes
    facts = SubmissionFacts(
        procedure=project.procedure,
        total_investment=project.total_investment,
        land_needs_new_land=project.land.needs_new_land,
        land_area_m2=project.land.area_m2,
        eia_category=project.eia_category,
        annual_energy_tce=project.annual_energy_tce,
        building_area_m2=project.building_area_m2,
        water_withdrawal=project.water_withdrawal,
        uses_forest_land=project.uses_forest_land,
        near_cultural_relics=project.near_cultural_relics,
        hazardous_chemicals=project.hazardous_chemicals,
        in_flood_zone=project.in_flood_zone,
        foreign_investment=project.foreign_investment,
    )
    catalogue = load_catalogue(None)
    return [catalogue.matter(code).department for code in route(facts, catalogue)]


@pytest.mark.parametrize("code", samples.CREDIT_CODES)
def test_credit_codes_have_a_valid_check_character(code):
    assert uscc.is_valid(code)


@pytest.mark.parametrize("region", sorted(samples.REGIONS))
def test_regions_are_real_divisions(region):
    assert validate_region_code(region) == region


def test_every_profile_is_a_valid_submission():
    rng = random.Random(5)
    for profile, _ in samples.PROFILES:
        for _ in range(20):
            departments_of(profile(rng))
    for _ in range(200):
        departments_of(samples.sample_project(rng))


def test_profiles_route_as_documented():
    rng = random.Random(9)
    assert departments_of(samples.filing_office(rng)) == []
    for _ in range(50):
        assert sorted(departments_of(samples.three_department_project(rng))) == [
            "MEE",
            "MOHURD",
            "NDRC",
        ]
    chemical = set(departments_of(samples.chemical_plant(rng)))
    assert {"MEM", "CMA", "MEE", "MWR"} <= chemical
    assert len(departments_of(samples.government_hospital(rng))) == 7
