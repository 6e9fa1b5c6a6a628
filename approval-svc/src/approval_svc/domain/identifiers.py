"""Identifiers: project codes, enterprise credit codes, region and industry codes.

Project code (一项一码), current format, 24 characters::

    YYMM-RRRRRR-DD-TT-NNNNNC
    |    |      |  |  |    `- check character, 0-9 or X
    |    |      |  |  `------ 5-digit serial, allocated per prefix (everything before it)
    |    |      |  `--------- project type by procedure: 01 approval, 02 verification, 03 filing
    |    |      `------------ industry division, first two digits of the GB/T 4754 industry code
    |    `------------------- GB/T 2260 region code of the project
    `------------------------ year (last two digits) and month of assignment, China time

Check character: ISO 7064 MOD 11-2 (the algorithm of the resident identity number check digit)
computed over the 19 digits of the code with the dashes removed and the check character left
out, i.e. ``YYMMRRRRRRDDTTNNNNN``. Counting positions from the right with the check character at
position 1, the character at position i has weight 2^(i-1) mod 11, and the check value c (0-10,
10 written ``X``) is the one that makes the weighted sum of all 20 characters congruent to 1
modulo 11. Equivalently: p = 0; for each digit d: p = (p + d) * 2 mod 11; c = (12 - p) mod 11.
Implemented by ``stdnum.iso7064.mod_11_2.calc_check_digit``. It catches every single-digit error
and every transposition of adjacent digits.

Legacy format, 24 characters, still looked up (never issued): ``YYYY-RRRRRR-II-TT-NNNNNN``
(e.g. ``2020-451421-88-03-016343``): four-digit year, region, two-digit industry, type, 6-digit
serial and no check character. Both formats have the same length and digit layout, so the first
two characters decide: ``20`` is a legacy year (20xx); the current format never issues a code whose
YY is 20 (the standard dates from 2021 and YY would next be 20 in 2120).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Literal

from stdnum import numdb
from stdnum.cn import uscc
from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.iso7064 import mod_11_2

from approval_svc.domain.errors import (
    InvalidCreditCode,
    InvalidIndustryCode,
    InvalidProjectCode,
    InvalidRegionCode,
)

PROJECT_TYPES: dict[str, str] = {"approval": "01", "verification": "02", "filing": "03"}
_PROCEDURE_OF_TYPE = {v: k for k, v in PROJECT_TYPES.items()}

MAX_SERIAL = 99_999
FIRST_CURRENT_YEAR = 2021  # GB/T 40058-2021

_CURRENT = re.compile(r"^(\d{2})(\d{2})-(\d{6})-(\d{2})-(\d{2})-(\d{5})([0-9X])$")
_LEGACY = re.compile(r"^(20\d{2})-(\d{6})-(\d{2})-(\d{2})-(\d{6})$")
_SHAPE = "YYMM-RRRRRR-DD-TT-NNNNNC"


# --- project codes ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProjectCode:
    code: str
    format: Literal["current", "legacy"]
    year: int
    month: int | None  # legacy codes carry only the year
    region: str
    industry: str  # two-digit division (current) / industry field (legacy)
    project_type: str
    procedure: str | None  # None when a legacy type is not one this platform issues
    serial: int
    check: str | None  # None for legacy codes

    @property
    def prefix(self) -> str:
        """Everything before the serial; serials are unique per prefix."""
        return self.code[: self.code.rindex("-") + 1]


def code_prefix(month: date, region: str, industry_code: str, procedure: str) -> str:
    """``YYMM-RRRRRR-DD-TT-``: the part before the serial, the scope of serial allocation."""
    if month.year < FIRST_CURRENT_YEAR or month.year % 100 == 20:
        raise ValueError(f"cannot issue a current-format project code for {month:%Y-%m}")
    try:
        project_type = PROJECT_TYPES[procedure]
    except KeyError:
        raise ValueError(
            f"unknown procedure {procedure!r}; expected one of {sorted(PROJECT_TYPES)}"
        ) from None
    region = validate_region_code(region)
    division = industry_division(industry_code)
    return f"{month:%y%m}-{region}-{division}-{project_type}-"


def make_project_code(
    month: date, region: str, industry_code: str, procedure: str, serial: int
) -> str:
    """Issue a current-format code; ``serial`` is 1-99999 within ``code_prefix(...)``."""
    if not 1 <= serial <= MAX_SERIAL:
        # Exhausting a prefix's serials is an operational event the caller must handle; a
        # silently wrapped serial would reuse a code, which is never allowed.
        raise ValueError(f"serial {serial} out of range 1-{MAX_SERIAL}")
    body = f"{code_prefix(month, region, industry_code, procedure)}{serial:05d}"
    return body + _check_char(body)


def parse_project_code(s: str) -> ProjectCode:
    """Parse either format; raise InvalidProjectCode saying which part is wrong."""
    if not isinstance(s, str):
        raise _bad("project code must be a string")
    code = s.strip().upper()
    if len(code) != 24:
        raise _bad(f"project code must be 24 characters ({_SHAPE}), got {len(code)}")
    if code.startswith("20"):
        return _parse_legacy(code)
    m = _CURRENT.match(code)
    if m is None:
        raise _bad(f"project code {code!r} does not have the shape {_SHAPE}")
    yy, mm, region, division, ptype, serial, check = m.groups()
    if not 1 <= int(mm) <= 12:
        raise _bad(f"project code {code!r}: month {mm} (YYMM) is not 01-12")
    if not _region_known(region):
        raise _bad(f"project code {code!r}: region {region} is not a GB/T 2260 code")
    if not 1 <= int(division) <= 97:
        raise _bad(f"project code {code!r}: industry division {division} is not 01-97")
    if ptype not in _PROCEDURE_OF_TYPE:
        raise _bad(
            f"project code {code!r}: project type {ptype} is not 01 (approval), "
            "02 (verification) or 03 (filing)"
        )
    if int(serial) == 0:
        raise _bad(f"project code {code!r}: serial 00000 is never issued")
    expected = _check_char(code[:-1])
    if check != expected:
        raise _bad(f"project code {code!r}: check character is {check}, expected {expected}")
    return ProjectCode(
        code=code,
        format="current",
        year=2000 + int(yy),
        month=int(mm),
        region=region,
        industry=division,
        project_type=ptype,
        procedure=_PROCEDURE_OF_TYPE[ptype],
        serial=int(serial),
        check=check,
    )


def is_project_code(s: str) -> bool:
    try:
        parse_project_code(s)
    except InvalidProjectCode:
        return False
    return True


def _parse_legacy(code: str) -> ProjectCode:
    m = _LEGACY.match(code)
    if m is None:
        raise _bad(f"legacy project code {code!r} does not have the shape YYYY-RRRRRR-II-TT-NNNNNN")
    year, region, industry, ptype, serial = m.groups()
    # Legacy regions are checked for shape only: they were issued under older division lists
    # and must stay findable whatever happened to the region since.
    return ProjectCode(
        code=code,
        format="legacy",
        year=int(year),
        month=None,
        region=region,
        industry=industry,
        project_type=ptype,
        procedure=_PROCEDURE_OF_TYPE.get(ptype),
        serial=int(serial),
        check=None,
    )


def _check_char(code_without_check: str) -> str:
    return str(mod_11_2.calc_check_digit(code_without_check.replace("-", "")))


def _bad(message: str) -> InvalidProjectCode:
    return InvalidProjectCode(message, field="project_code")


# --- enterprise credit code -------------------------------------------------------------------


def validate_credit_code(s: str) -> str:
    """Unified social credit code (GB 32100-2015), check character verified; returns it compact."""
    try:
        return str(uscc.validate(s))
    except StdnumValidationError as exc:
        raise InvalidCreditCode(
            f"invalid unified social credit code {s!r}: {exc} "
            "(expected 18 characters, e.g. 91440300708461136T)",
            field="credit_code",
        ) from exc
    except (TypeError, AttributeError) as exc:  # not a string at all
        raise InvalidCreditCode(
            "unified social credit code must be a string", field="credit_code"
        ) from exc


# --- region codes (GB/T 2260) -----------------------------------------------------------------

_NAME_PART = re.compile(r"(?:\[(\d*)-(\d*)\])?([^,\[]+)")


@dataclass(frozen=True, slots=True)
class RegionInfo:
    code: str
    province: str
    name: str  # current (or last) name of the division itself
    abolished: bool  # the code is historical: no longer in use


def validate_region_code(s: str, *, current_only: bool = False) -> str:
    """A real 6-digit GB/T 2260 code (province, city or county level); returns it.

    Historical codes are accepted by default because old projects keep the region they were
    registered with; pass ``current_only=True`` to refuse divisions that have been abolished.
    """
    if not isinstance(s, str) or not re.fullmatch(r"\d{6}", s):
        raise InvalidRegionCode(
            f"region code {s!r} must be 6 digits (GB/T 2260), e.g. 110105", field="region_code"
        )
    info = _region_lookup(s)
    if info is None:
        raise InvalidRegionCode(
            f"region code {s} is not a GB/T 2260 administrative division", field="region_code"
        )
    if current_only and info.abolished:
        raise InvalidRegionCode(
            f"region code {s} ({info.name}) has been abolished", field="region_code"
        )
    return s


def region_info(code: str) -> RegionInfo:
    info = _region_lookup(validate_region_code(code))
    assert info is not None  # validate_region_code guarantees it
    return info


def region_name(code: str) -> str:
    return region_info(code).name


def _region_known(code: str) -> bool:
    return _region_lookup(code) is not None


@lru_cache(maxsize=8192)
def _region_lookup(code: str) -> RegionInfo | None:
    # numdb resolves a prefix tree: '110105' -> [('11', {province}), ('0105', {county})].
    # Province-level (110000) and city-level (440300) codes are listed as 'county' entries of
    # their province too ('0000', '0300'), so "both levels named" accepts all three levels,
    # while '999999' ([('999999', {})]) and '110199' (unnamed second level) are refused.
    parts = numdb.get("cn/loc").info(code)
    if len(parts) != 2:
        return None
    (_, prov), (_, county) = parts
    province, raw_name = prov.get("province"), county.get("county")
    if not province or not raw_name:
        return None
    name, abolished = _current_name(raw_name)
    return RegionInfo(code=code, province=province, name=name, abolished=abolished)


def _current_name(raw: str) -> tuple[str, bool]:
    """Pick the name in use from values like '[1983-1989]南头区办事处,[1990-]南山区'."""
    entries = [(end, name.strip()) for _, end, name in _NAME_PART.findall(raw) if name.strip()]
    if not entries:
        return raw, False
    for end, name in reversed(entries):
        if not end:  # open-ended: still in use
            return name, False
    return entries[-1][1], True


# --- industry codes (GB/T 4754-2017) ----------------------------------------------------------

# Section letter -> its range of two-digit divisions.
_SECTIONS: dict[str, tuple[int, int]] = {
    "A": (1, 5), "B": (6, 12), "C": (13, 43), "D": (44, 46), "E": (47, 50),
    "F": (51, 52), "G": (53, 60), "H": (61, 62), "I": (63, 65), "J": (66, 69),
    "K": (70, 70), "L": (71, 72), "M": (73, 75), "N": (76, 79), "O": (80, 82),
    "P": (83, 83), "Q": (84, 85), "R": (86, 90), "S": (91, 96), "T": (97, 97),
}  # fmt: skip
_INDUSTRY = re.compile(r"^([A-T])?(\d{2,4})$")


def validate_industry_code(s: str) -> str:
    """GB/T 4754 code: optional section letter A-T, then 2-4 digits; returns it normalised."""
    code = s.strip().upper() if isinstance(s, str) else ""
    m = _INDUSTRY.match(code)
    if m is None:
        raise InvalidIndustryCode(
            f"industry code {s!r} must be an optional section letter A-T and 2-4 digits "
            "(GB/T 4754), e.g. C3011 or 44",
            field="industry_code",
        )
    letter, digits = m.groups()
    division = int(digits[:2])
    if not 1 <= division <= 97:
        raise InvalidIndustryCode(
            f"industry code {s!r}: division {digits[:2]} is not 01-97", field="industry_code"
        )
    if letter is not None:
        lo, hi = _SECTIONS[letter]
        if not lo <= division <= hi:
            raise InvalidIndustryCode(
                f"industry code {s!r}: division {digits[:2]} is not in section {letter} "
                f"({lo:02d}-{hi:02d})",
                field="industry_code",
            )
    return code


def industry_division(industry_code: str) -> str:
    """The two-digit division of a valid industry code ('C3011' -> '30')."""
    code = validate_industry_code(industry_code)
    return code.lstrip("ABCDEFGHIJKLMNOPQRST")[:2]
