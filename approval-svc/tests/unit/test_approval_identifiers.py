"""Project codes, credit codes, region and industry codes."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from approval_svc.domain.errors import (
    InvalidCreditCode,
    InvalidIdentifier,
    InvalidIndustryCode,
    InvalidProjectCode,
    InvalidRegionCode,
)
from approval_svc.domain.identifiers import (
    code_prefix,
    industry_division,
    is_project_code,
    make_project_code,
    parse_project_code,
    region_info,
    region_name,
    validate_credit_code,
    validate_industry_code,
    validate_region_code,
)


def _mod_11_2(digits: str) -> str:
    """Independent implementation of ISO 7064 MOD 11-2, as documented in the module."""
    p = 0
    for ch in digits:
        p = (p + int(ch)) * 2 % 11
    c = (12 - p) % 11
    return "X" if c == 10 else str(c)


# --- project codes ----------------------------------------------------------------------------


def test_make_project_code_layout():
    code = make_project_code(date(2025, 9, 14), "140602", "C3011", "verification", 86497)
    assert len(code) == 24
    assert code[:-1] == "2509-140602-30-02-86497"
    assert code[-1] == _mod_11_2("2509140602300286497")


@pytest.mark.parametrize(
    ("procedure", "tt"), [("approval", "01"), ("verification", "02"), ("filing", "03")]
)
def test_project_type_by_procedure(procedure, tt):
    code = make_project_code(date(2026, 1, 1), "110105", "44", procedure, 1)
    assert code.split("-")[3] == tt
    assert parse_project_code(code).procedure == procedure


@pytest.mark.parametrize(("industry", "division"), [("C3011", "30"), ("3011", "30"), ("44", "44")])
def test_industry_division_comes_from_industry_code(industry, division):
    code = make_project_code(date(2026, 1, 1), "110105", industry, "filing", 7)
    assert code.split("-")[2] == division


def test_parse_round_trip():
    code = make_project_code(date(2031, 12, 31), "440300", "D4411", "approval", 99999)
    pc = parse_project_code(code)
    assert (pc.format, pc.year, pc.month, pc.region, pc.industry) == (
        "current",
        2031,
        12,
        "440300",
        "44",
    )
    assert (pc.project_type, pc.serial, pc.check) == ("01", 99999, code[-1])
    assert pc.prefix == code_prefix(date(2031, 12, 1), "440300", "D4411", "approval")
    assert pc.prefix == "3112-440300-44-01-"


def test_parse_normalises_case_and_whitespace():
    code = make_project_code(date(2026, 3, 1), "110105", "44", "filing", 1)
    assert parse_project_code(f"  {code.lower()} ").code == code


def test_x_check_character_is_produced_and_accepted():
    # Find a serial whose check value is 10 and make sure it renders and parses as X.
    for serial in range(1, 200):
        code = make_project_code(date(2026, 3, 1), "110105", "44", "filing", serial)
        if code.endswith("X"):
            assert is_project_code(code)
            assert is_project_code(code[:-1] + "x")
            break
    else:  # pragma: no cover - 1 in 11 serials ends with X
        pytest.fail("no X check character in 200 serials")


def test_legacy_code_is_accepted():
    pc = parse_project_code("2020-451421-88-03-016343")
    assert (pc.format, pc.year, pc.month, pc.serial, pc.check) == (
        "legacy",
        2020,
        None,
        16343,
        None,
    )
    assert pc.procedure == "filing"
    assert pc.prefix == "2020-451421-88-03-"
    assert is_project_code("2020-451421-88-03-016343")


def test_brief_example_current_code_uses_another_check_algorithm():
    # '2509-140602-89-05-864976' comes from another platform: type 05 is not one we issue and
    # its check character is not MOD 11-2 over its digits. We validate our own codes only.
    assert not is_project_code("2509-140602-89-05-864976")


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("2509-140602-30-02-8649", "24 characters"),
        ("2509_140602-30-02-864977", "shape"),
        ("2513-140602-30-02-86497X", "month 13"),
        ("2509-999999-30-02-86497X", "region 999999"),
        ("2509-140602-98-02-86497X", "division 98"),
        ("2509-140602-30-05-86497X", "project type 05"),
        ("2509-140602-30-02-000000", "serial 00000"),
        ("2020-451421-88-03-01634X", "legacy"),
    ],
)
def test_parse_names_what_is_wrong(code, fragment):
    with pytest.raises(InvalidProjectCode) as exc:
        parse_project_code(code)
    assert fragment in str(exc.value)
    assert exc.value.field == "project_code"
    assert not is_project_code(code)


def test_wrong_check_character_is_reported_with_the_expected_one():
    code = make_project_code(date(2025, 9, 1), "140602", "C3011", "verification", 86497)
    wrong = "0" if code[-1] != "0" else "1"
    with pytest.raises(InvalidProjectCode, match=f"check character is {wrong}, expected"):
        parse_project_code(code[:-1] + wrong)


@given(serial=st.integers(1, 99999), pos=st.integers(0, 22), delta=st.integers(1, 9))
def test_any_single_digit_error_is_detected(serial, pos, delta):
    code = make_project_code(date(2026, 6, 1), "110105", "C3011", "approval", serial)
    if code[pos] == "-":
        return
    changed = code[:pos] + str((int(code[pos]) + delta) % 10) + code[pos + 1 :]
    if changed.startswith("20"):
        return  # would read as a legacy code, which carries no check character
    assert not is_project_code(changed)


def test_code_prefix_and_make_refuse_bad_inputs():
    with pytest.raises(ValueError, match="procedure"):
        code_prefix(date(2026, 1, 1), "110105", "44", "registration")
    with pytest.raises(InvalidRegionCode):
        code_prefix(date(2026, 1, 1), "999999", "44", "filing")
    with pytest.raises(InvalidIndustryCode):
        code_prefix(date(2026, 1, 1), "110105", "99", "filing")
    with pytest.raises(ValueError, match="2020-05"):
        code_prefix(date(2020, 5, 1), "110105", "44", "filing")
    for serial in (0, 100_000, -1):
        with pytest.raises(ValueError, match="serial"):
            make_project_code(date(2026, 1, 1), "110105", "44", "filing", serial)


def test_is_project_code_on_non_strings():
    assert not is_project_code(12345)  # type: ignore[arg-type]
    assert not is_project_code("")


# --- credit codes -----------------------------------------------------------------------------


def test_valid_credit_code():
    assert validate_credit_code("91440300708461136T") == "91440300708461136T"
    assert validate_credit_code(" 91440300708461136t ") == "91440300708461136T"


@pytest.mark.parametrize(
    "bad",
    ["91440300708461136X", "9144030070846113", "91440300708461136TT", "", "ABCDEFGHIJKLMNOPQR"],
)
def test_invalid_credit_code(bad):
    with pytest.raises(InvalidCreditCode) as exc:
        validate_credit_code(bad)
    assert isinstance(exc.value, ValueError)
    assert exc.value.field == "credit_code"
    assert "unified social credit code" in str(exc.value)


def test_credit_code_must_be_a_string():
    with pytest.raises(InvalidCreditCode):
        validate_credit_code(None)  # type: ignore[arg-type]


# --- region codes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "name"),
    [("110105", "朝阳区"), ("110000", "北京市"), ("440300", "深圳市"), ("440305", "南山区")],
)
def test_real_region_codes(code, name):
    assert validate_region_code(code) == code
    assert region_name(code) == name


def test_region_info_province_and_history():
    info = region_info("440305")
    assert (info.province, info.abolished) == ("广东省", False)
    old = region_info("110103")  # 崇文区, merged into 东城区 in 2010
    assert (old.name, old.abolished) == ("崇文区", True)
    assert validate_region_code("110103") == "110103"
    with pytest.raises(InvalidRegionCode, match="abolished"):
        validate_region_code("110103", current_only=True)


@pytest.mark.parametrize("bad", ["999999", "110199", "11010", "1101055", "11010A", "", None])
def test_unreal_region_codes(bad):
    with pytest.raises(InvalidRegionCode) as exc:
        validate_region_code(bad)
    assert exc.value.field == "region_code"


# --- industry codes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "normal", "division"),
    [
        ("C3011", "C3011", "30"),
        ("c3011", "C3011", "30"),
        ("3011", "3011", "30"),
        ("44", "44", "44"),
        ("A01", "A01", "01"),
        ("T97", "T97", "97"),
        ("K701", "K701", "70"),
    ],
)
def test_valid_industry_codes(code, normal, division):
    assert validate_industry_code(code) == normal
    assert industry_division(code) == division


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        ("00", "division 00"),
        ("98", "division 98"),
        ("C", "section letter"),
        ("C30111", "section letter"),
        ("3", "section letter"),
        ("U30", "section letter"),
        ("A30", "not in section A"),
        ("C44", "not in section C"),
    ],
)
def test_invalid_industry_codes(bad, fragment):
    with pytest.raises(InvalidIndustryCode, match=fragment) as exc:
        validate_industry_code(bad)
    assert exc.value.field == "industry_code"


def test_identifier_errors_share_a_family():
    for cls in (InvalidProjectCode, InvalidCreditCode, InvalidRegionCode, InvalidIndustryCode):
        assert issubclass(cls, InvalidIdentifier)
        assert issubclass(cls, ValueError)
