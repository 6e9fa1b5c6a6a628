"""Routing follows the default trigger table of the domain brief, one test per rule."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from approval_svc.catalogue_file import load_catalogue
from approval_svc.domain.routing import SubmissionFacts, fired_rules, route

CAT = load_catalogue()


def facts(**kw) -> SubmissionFacts:
    kw.setdefault("procedure", "filing")
    return SubmissionFacts(**kw)


def test_plain_filing_routes_to_nothing():
    assert route(facts(), CAT) == []


def test_filing_with_investment_below_threshold_routes_to_nothing():
    assert route(facts(total_investment=Decimal("999999999.99")), CAT) == []


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({"procedure": "approval"}, ["NDRC-APPROVE"]),
        ({"procedure": "verification"}, ["NDRC-VERIFY"]),
        ({"annual_energy_tce": Decimal(1000)}, ["NDRC-ENERGY"]),
        ({"land_needs_new_land": True}, ["MNR-LAND-PRE", "MNR-LAND-PLAN"]),
        (
            {"land_needs_new_land": True, "land_area_m2": Decimal(5000)},
            ["MNR-LAND-PRE", "MNR-LAND-PLAN", "MWR-SOIL"],
        ),
        ({"eia_category": "report"}, ["MEE-EIA-REPORT"]),
        ({"eia_category": "table"}, ["MEE-EIA-TABLE"]),
        ({"eia_category": "registration"}, []),
        ({"eia_category": "none"}, []),
        ({"building_area_m2": Decimal("0.01")}, ["MOHURD-BUILD-PERMIT"]),
        ({"building_area_m2": Decimal(20000)}, ["MOHURD-BUILD-PERMIT", "MOHURD-FIRE"]),
        ({"water_withdrawal": True}, ["MWR-WATER-PERMIT"]),
        ({"in_flood_zone": True}, ["MWR-FLOOD"]),
        ({"hazardous_chemicals": True}, ["MEM-HAZCHEM", "CMA-LIGHTNING"]),
        ({"near_cultural_relics": True}, ["NCHA-RELICS"]),
        ({"uses_forest_land": True}, ["NFGA-FOREST"]),
        ({"total_investment": Decimal(1_000_000_000)}, ["CEA-SEISMIC"]),
        ({"foreign_investment": True}, []),  # no default trigger in the brief
    ],
)
def test_each_trigger(kw, expected):
    assert route(facts(**kw), CAT) == expected


@pytest.mark.parametrize(
    ("field", "below", "at", "matter"),
    [
        ("annual_energy_tce", "999.99", "1000", "NDRC-ENERGY"),
        ("building_area_m2", "19999", "20000", "MOHURD-FIRE"),
        ("building_area_m2", "19999.99", "20000.00", "MOHURD-FIRE"),
        ("total_investment", "999999999.99", "1000000000", "CEA-SEISMIC"),
    ],
)
def test_threshold_boundaries(field, below, at, matter):
    assert matter not in route(facts(**{field: Decimal(below)}), CAT)
    assert matter in route(facts(**{field: Decimal(at)}), CAT)


def test_soil_and_water_boundary_needs_new_land():
    new = {"land_needs_new_land": True}
    assert "MWR-SOIL" not in route(facts(**new, land_area_m2=Decimal(4999)), CAT)
    assert "MWR-SOIL" not in route(facts(**new, land_area_m2=Decimal("4999.99")), CAT)
    assert "MWR-SOIL" in route(facts(**new, land_area_m2=Decimal(5000)), CAT)
    # A large site that needs no new land triggers nothing.
    assert route(facts(land_area_m2=Decimal(100000)), CAT) == []


def test_zero_building_area_needs_no_permit():
    assert route(facts(building_area_m2=Decimal(0)), CAT) == []


def test_absent_numbers_never_trigger():
    assert route(facts(annual_energy_tce=None, building_area_m2=None), CAT) == []


def test_everything_at_once_is_in_catalogue_order_without_duplicates():
    f = SubmissionFacts(
        procedure="verification",
        total_investment=Decimal("2e9"),
        land_needs_new_land=True,
        land_area_m2=Decimal(80000),
        eia_category="report",
        annual_energy_tce=Decimal(5000),
        building_area_m2=Decimal(50000),
        water_withdrawal=True,
        uses_forest_land=True,
        near_cultural_relics=True,
        hazardous_chemicals=True,
        in_flood_zone=True,
        foreign_investment=True,
    )
    assert route(f, CAT) == [
        "NDRC-VERIFY",
        "NDRC-ENERGY",
        "MNR-LAND-PRE",
        "MNR-LAND-PLAN",
        "MEE-EIA-REPORT",
        "MWR-SOIL",
        "MWR-WATER-PERMIT",
        "MWR-FLOOD",
        "MOHURD-BUILD-PERMIT",
        "MOHURD-FIRE",
        "MEM-HAZCHEM",
        "CMA-LIGHTNING",
        "CEA-SEISMIC",
        "NCHA-RELICS",
        "NFGA-FOREST",
    ]
    assert {r.id for r in fired_rules(f, CAT)} >= {"procedure-verification", "seismic"}


def test_facts_coerce_exact_decimals_and_refuse_bad_values():
    f = SubmissionFacts(procedure="filing", total_investment="1000000000.00")  # type: ignore[arg-type]
    assert f.total_investment == Decimal("1000000000.00")
    with pytest.raises(ValidationError):
        SubmissionFacts(procedure="registration")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        SubmissionFacts(procedure="filing", total_investment=Decimal(-1))
    with pytest.raises(ValidationError):
        SubmissionFacts(procedure="filing", eia_category="huge")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        SubmissionFacts(procedure="filing", colour="red")  # type: ignore[call-arg]


_numbers = st.none() | st.decimals(min_value=0, max_value=10**10, places=2)


@given(
    procedure=st.sampled_from(["approval", "verification", "filing"]),
    total=st.decimals(min_value=0, max_value=10**10, places=2),
    new_land=st.booleans(),
    area=_numbers,
    eia=st.sampled_from(["report", "table", "registration", "none"]),
    energy=_numbers,
    building=_numbers,
    flags=st.lists(st.booleans(), min_size=7, max_size=7),
)
def test_route_is_deterministic_duplicate_free_and_known(
    procedure, total, new_land, area, eia, energy, building, flags
):
    f = SubmissionFacts(
        procedure=procedure,
        total_investment=total,
        land_needs_new_land=new_land,
        land_area_m2=area,
        eia_category=eia,
        annual_energy_tce=energy,
        building_area_m2=building,
        water_withdrawal=flags[0],
        uses_forest_land=flags[1],
        near_cultural_relics=flags[2],
        hazardous_chemicals=flags[3],
        in_flood_zone=flags[4],
        foreign_investment=flags[5],
    )
    codes = route(f, CAT)
    assert codes == route(f, CAT)
    assert len(codes) == len(set(codes))
    ranks = [CAT.matter_rank(c) for c in codes]
    assert ranks == sorted(ranks)
    # A non-filing procedure always needs at least its NDRC matter.
    assert (procedure == "filing") or codes[0] in {"NDRC-APPROVE", "NDRC-VERIFY"}
