"""The bundled catalogue matches the domain brief, and broken catalogues are refused on load.

No file is written or read here beyond the catalogue bundled with the package (reading files
given by path is tested in ``integration/test_approval_catalogue_file.py``)."""

from __future__ import annotations

from datetime import date

import pytest
import yaml

from approval_svc.catalogue_file import (
    bundled_catalogue_text,
    default_catalogue,
    load_catalogue,
    parse_catalogue_text,
)
from approval_svc.domain.catalogue import Catalogue
from approval_svc.domain.errors import CatalogueError, UnknownDepartment, UnknownMatter

DEPARTMENTS = [
    "NDRC", "MNR", "MEE", "MOHURD", "MWR", "MEM", "CMA", "CEA", "NCHA",
    "MOT", "NFGA", "MIIT", "NHC", "NEA", "CAAC", "MOFCOM", "SAMR", "NBS",
]  # fmt: skip

# code, department, legal, promised, day_kind, estimated -- the table of domain.md
MATTERS = [
    ("NDRC-VERIFY", "NDRC", 20, 15, "working", False),
    ("NDRC-APPROVE", "NDRC", 20, 10, "working", False),
    ("NDRC-ENERGY", "NDRC", 20, 15, "working", True),
    ("MNR-LAND-PRE", "MNR", 20, 15, "working", False),
    ("MNR-LAND-PLAN", "MNR", 20, 15, "working", True),
    ("MEE-EIA-REPORT", "MEE", 60, 30, "calendar", False),
    ("MEE-EIA-TABLE", "MEE", 30, 15, "calendar", False),
    ("MWR-SOIL", "MWR", 20, 16, "working", False),
    ("MWR-WATER-PERMIT", "MWR", 45, 35, "calendar", False),
    ("MWR-FLOOD", "MWR", 20, 15, "working", True),
    ("MOHURD-BUILD-PERMIT", "MOHURD", 7, 5, "calendar", False),
    ("MOHURD-FIRE", "MOHURD", 15, 10, "working", False),
    ("MEM-HAZCHEM", "MEM", 45, 20, "calendar", False),
    ("CMA-LIGHTNING", "CMA", 20, 10, "working", True),
    ("CEA-SEISMIC", "CEA", 20, 15, "working", True),
    ("NCHA-RELICS", "NCHA", 20, 15, "working", True),
    ("MOT-ROAD-IMPACT", "MOT", 20, 15, "working", True),
    ("NFGA-FOREST", "NFGA", 20, 15, "working", True),
]


@pytest.fixture
def catalogue() -> Catalogue:
    return load_catalogue()


def test_bundled_catalogue_has_the_18_departments(catalogue):
    assert [d.code for d in catalogue.departments] == DEPARTMENTS
    for d in catalogue.departments:
        assert d.name
        assert d.name_zh


@pytest.mark.parametrize(("code", "dept", "legal", "promised", "kind", "est"), MATTERS)
def test_bundled_matter_matches_domain_table(catalogue, code, dept, legal, promised, kind, est):
    m = catalogue.matter(code)
    assert (m.department, m.legal_limit, m.promised_limit, m.day_kind, m.estimated) == (
        dept,
        legal,
        promised,
        kind,
        est,
    )
    assert m.consultative is False  # no default matter is a consultation


def test_bundled_catalogue_has_exactly_the_table_matters(catalogue):
    assert [m.code for m in catalogue.matters] == [row[0] for row in MATTERS]
    assert catalogue.version == 1
    assert catalogue.extra_holidays == {}  # no invented State Council schedule


def test_lookups(catalogue):
    assert catalogue.department("MWR").name_zh == "水利部"
    assert [m.code for m in catalogue.matters_of("MWR")] == [
        "MWR-SOIL",
        "MWR-WATER-PERMIT",
        "MWR-FLOOD",
    ]
    assert catalogue.matters_of("NBS") == ()
    assert catalogue.has_department("CAAC")
    assert not catalogue.has_department("XYZ")
    with pytest.raises(UnknownMatter):
        catalogue.matter("NOPE")
    with pytest.raises(UnknownDepartment):
        catalogue.department("NOPE")
    with pytest.raises(UnknownDepartment):
        catalogue.matters_of("NOPE")


def test_default_catalogue_is_cached():
    assert default_catalogue() is default_catalogue()


def test_catalogue_serialises_for_the_api(catalogue):
    dumped = catalogue.model_dump(mode="json")
    assert dumped["matters"][0]["code"] == "NDRC-VERIFY"
    assert dumped["routing"][2]["when"][0]["value"] == "1000"


# --- broken catalogues ------------------------------------------------------------------------


def _raw() -> dict:
    return yaml.safe_load(bundled_catalogue_text())


def _parse(raw: dict) -> Catalogue:
    return parse_catalogue_text(yaml.safe_dump(raw, allow_unicode=True), source="test")


def _broken(mutate) -> str:
    raw = _raw()
    mutate(raw)
    with pytest.raises(CatalogueError) as exc:
        _parse(raw)
    return str(exc.value)


def _matter(raw: dict, code: str) -> dict:
    return next(m for m in raw["matters"] if m["code"] == code)


def _rule(raw: dict, rule_id: str) -> dict:
    return next(r for r in raw["routing"] if r["id"] == rule_id)


def test_matter_with_unknown_department_is_refused():
    msg = _broken(lambda r: _matter(r, "MWR-SOIL").update(department="WATER"))
    assert "unknown department 'WATER'" in msg


def test_rule_with_unknown_matter_is_refused():
    msg = _broken(lambda r: _rule(r, "seismic").update(matters=["CEA-QUAKE"]))
    assert "unknown matter 'CEA-QUAKE'" in msg


def test_promised_above_legal_is_refused():
    msg = _broken(lambda r: _matter(r, "MOHURD-FIRE").update(promised_limit=16))
    assert "promised_limit 16 exceeds legal_limit 15" in msg


def test_duplicate_matter_code_is_refused():
    msg = _broken(lambda r: r["matters"].append(dict(r["matters"][0])))
    assert "duplicate matter 'NDRC-VERIFY'" in msg


def test_unsupported_version_is_refused():
    assert "version 2" in _broken(lambda r: r.update(version=2))


@pytest.mark.parametrize(
    ("condition", "fragment"),
    [
        ({"field": "colour", "op": "eq", "value": "red"}, "unknown submission field"),
        ({"field": "water_withdrawal", "op": "ge", "value": 1}, "cannot use op 'ge'"),
        ({"field": "procedure", "op": "eq", "value": "approvall"}, "no value 'approvall'"),
        ({"field": "procedure", "op": "true"}, "must use op 'eq'"),
        ({"field": "building_area_m2", "op": "gt", "value": "lots"}, "not a number"),
        ({"field": "building_area_m2", "op": "gt"}, "needs a numeric value"),
        ({"field": "water_withdrawal", "op": "true", "value": 3}, "takes no value"),
        ({"field": "water_withdrawal", "op": "lt", "value": 3}, "op"),
    ],
)
def test_ill_typed_condition_is_refused(condition, fragment):
    msg = _broken(lambda r: _rule(r, "building").update(when=[condition]))
    assert fragment in msg


def test_unquoted_yaml_true_operator_is_accepted():
    text = bundled_catalogue_text().replace('op: "true"', "op: true")
    assert text != bundled_catalogue_text()
    assert parse_catalogue_text(text, source="test") == load_catalogue()


def test_extra_holidays_load_and_feed_the_calendar():
    raw = _raw()
    raw["extra_holidays"] = {2027: {"holidays": [date(2027, 1, 1)], "workdays": [date(2027, 1, 9)]}}
    cat = _parse(raw)
    cal = cat.work_calendar()
    assert cal.is_workday(date(2027, 1, 1)) is False  # a Friday, made a holiday
    assert cal.is_workday(date(2027, 1, 9)) is True  # a Saturday, made a workday
    assert cal.is_workday(date(2027, 1, 4)) is True
    assert cal.unknown_years == set()


def test_extra_holiday_in_the_wrong_year_is_refused():
    msg = _broken(lambda r: r.update(extra_holidays={2027: {"holidays": [date(2028, 1, 1)]}}))
    assert "in another year" in msg


def test_day_both_holiday_and_workday_is_refused():
    d = date(2027, 1, 1)
    msg = _broken(lambda r: r.update(extra_holidays={2027: {"holidays": [d], "workdays": [d]}}))
    assert "holiday and workday" in msg


def test_non_yaml_or_non_mapping_text_is_a_catalogue_error():
    with pytest.raises(CatalogueError, match="not valid YAML"):
        parse_catalogue_text("version: [1\n", source="test")
    with pytest.raises(CatalogueError, match="mapping"):
        parse_catalogue_text("- 1\n- 2\n", source="test")
