"""The catalogue: departments, their matters with time limits, routing rules and extra holidays.

All of it is data (``approval_svc/data/catalogue.yaml``, read by
``approval_svc.catalogue_file``), versioned by a top-level ``version``. The models below validate
the data as a whole when it loads, so a broken deployment fails at start-up instead of
mis-routing projects: every matter's department exists, every routing rule
names existing matters, promised limits never exceed legal ones, conditions use operators that fit
the field they test, and holiday dates belong to the year they are listed under.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from approval_svc.domain.errors import CatalogueError, UnknownDepartment, UnknownMatter
from approval_svc.domain.facts import BOOL_FIELDS, CHOICE_FIELDS, NUMERIC_FIELDS
from approval_svc.domain.workdays import DayKind, WorkCalendar, YearSchedule

SUPPORTED_VERSIONS = frozenset({1})

_CODE_PATTERN = r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Department(_Frozen):
    code: str = Field(pattern=r"^[A-Z]{2,10}$")
    name: str = Field(min_length=1)
    name_zh: str = Field(min_length=1)


class Matter(_Frozen):
    code: str = Field(pattern=_CODE_PATTERN)
    department: str
    name: str = Field(min_length=1)
    name_zh: str = Field(min_length=1)
    legal_limit: int = Field(gt=0)
    promised_limit: int = Field(gt=0)
    day_kind: DayKind
    # Consultative matters are opinions the verifying department asks for (征求意见); silence
    # for 7 working days is consent. No default matter is one.
    consultative: bool = False
    # True where the domain brief had no national figure and the limits are reasonable defaults.
    estimated: bool = False

    @model_validator(mode="after")
    def _promised_within_legal(self) -> Matter:
        if self.promised_limit > self.legal_limit:
            raise ValueError(
                f"matter {self.code}: promised_limit {self.promised_limit} exceeds "
                f"legal_limit {self.legal_limit}"
            )
        return self


Op = Literal["eq", "ge", "gt", "true"]


class Condition(_Frozen):
    """One test on a submission fact. ``true`` needs no value; ``ge``/``gt`` need a number."""

    field: str
    op: Op
    value: Any = None

    @model_validator(mode="before")
    @classmethod
    def _yaml_true(cls, data: Any) -> Any:
        # Unquoted `op: true` in YAML arrives as a boolean; accept it as the 'true' operator.
        if isinstance(data, dict) and data.get("op") is True:
            data = {**data, "op": "true"}
        return data

    @model_validator(mode="after")
    def _fits_field(self) -> Condition:
        f, op, value = self.field, self.op, self.value
        if f in NUMERIC_FIELDS:
            if op not in ("ge", "gt", "eq"):
                raise ValueError(f"condition on numeric field {f!r} cannot use op {op!r}")
            # Thresholds are stored as Decimal so comparisons with money stay exact.
            object.__setattr__(self, "value", _to_decimal(value, f))
        elif f in BOOL_FIELDS:
            if op == "true":
                if value is not None:
                    raise ValueError(f"op 'true' on {f!r} takes no value")
            elif op == "eq":
                if not isinstance(value, bool):
                    raise ValueError(f"condition on {f!r} compares with a boolean")
            else:
                raise ValueError(f"condition on boolean field {f!r} cannot use op {op!r}")
        elif f in CHOICE_FIELDS:
            if op != "eq":
                raise ValueError(f"condition on {f!r} must use op 'eq'")
            if value not in CHOICE_FIELDS[f]:
                raise ValueError(
                    f"{f!r} has no value {value!r}; expected one of {CHOICE_FIELDS[f]}"
                )
        else:
            raise ValueError(f"unknown submission field {f!r} in routing condition")
        return self


class RoutingRule(_Frozen):
    """When every condition holds, each listed matter is required."""

    id: str = Field(min_length=1)
    description: str = ""
    when: tuple[Condition, ...] = Field(min_length=1)
    matters: tuple[str, ...] = Field(min_length=1)


class HolidayYear(_Frozen):
    holidays: tuple[date, ...] = ()
    workdays: tuple[date, ...] = ()  # make-up working days on weekends

    def schedule(self) -> YearSchedule:
        return YearSchedule(holidays=frozenset(self.holidays), workdays=frozenset(self.workdays))


class Catalogue(_Frozen):
    version: int
    departments: tuple[Department, ...]
    matters: tuple[Matter, ...]
    routing: tuple[RoutingRule, ...] = ()
    extra_holidays: dict[int, HolidayYear] = Field(default_factory=dict)

    _departments: dict[str, Department] = PrivateAttr(default_factory=dict)
    _matters: dict[str, Matter] = PrivateAttr(default_factory=dict)
    _by_department: dict[str, tuple[Matter, ...]] = PrivateAttr(default_factory=dict)
    _matter_order: dict[str, int] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Catalogue:
        if self.version not in SUPPORTED_VERSIONS:
            raise ValueError(
                f"catalogue version {self.version} is not supported "
                f"(supported: {sorted(SUPPORTED_VERSIONS)})"
            )
        dept_codes = _unique([d.code for d in self.departments], "department")
        matter_codes = _unique([m.code for m in self.matters], "matter")
        _unique([r.id for r in self.routing], "routing rule")
        for m in self.matters:
            if m.department not in dept_codes:
                raise ValueError(f"matter {m.code} names unknown department {m.department!r}")
        for r in self.routing:
            for code in r.matters:
                if code not in matter_codes:
                    raise ValueError(f"routing rule {r.id!r} names unknown matter {code!r}")
        for year, hy in self.extra_holidays.items():
            for d in (*hy.holidays, *hy.workdays):
                if d.year != year:
                    raise ValueError(f"extra_holidays {year}: date {d} is in another year")
            both = set(hy.holidays) & set(hy.workdays)
            if both:
                raise ValueError(
                    f"extra_holidays {year}: {sorted(both)} listed as holiday and workday"
                )
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._departments = {d.code: d for d in self.departments}
        self._matters = {m.code: m for m in self.matters}
        self._by_department = {
            d.code: tuple(m for m in self.matters if m.department == d.code)
            for d in self.departments
        }
        self._matter_order = {m.code: i for i, m in enumerate(self.matters)}

    # --- lookups -------------------------------------------------------------------------------

    def department(self, code: str) -> Department:
        try:
            return self._departments[code]
        except KeyError:
            raise UnknownDepartment(f"unknown department {code!r}", field="department") from None

    def matter(self, code: str) -> Matter:
        try:
            return self._matters[code]
        except KeyError:
            raise UnknownMatter(f"unknown matter {code!r}", field="matter_code") from None

    def matters_of(self, department: str) -> tuple[Matter, ...]:
        self.department(department)  # raise for an unknown code rather than return ()
        return self._by_department[department]

    def has_department(self, code: str) -> bool:
        return code in self._departments

    def matter_rank(self, code: str) -> int:
        """Position of a matter in the file; routing output is ordered by it."""
        return self._matter_order[self.matter(code).code]

    def holiday_schedules(self) -> Mapping[int, YearSchedule]:
        return {year: hy.schedule() for year, hy in self.extra_holidays.items()}

    def work_calendar(self, on_unknown_year: Callable[[int], None] | None = None) -> WorkCalendar:
        """A calendar that knows this catalogue's extra holiday years."""
        return WorkCalendar(self.holiday_schedules(), on_unknown_year)


def parse_catalogue(raw: object, *, source: str) -> Catalogue:
    """Validate catalogue data already read and parsed (see ``approval_svc.catalogue_file``)."""
    if not isinstance(raw, dict):
        raise CatalogueError(f"catalogue {source} must be a mapping at top level")
    if raw.get("extra_holidays") is None:
        raw = {**raw, "extra_holidays": {}}  # an empty YAML section reads as null
    try:
        return Catalogue.model_validate(raw)
    except ValidationError as exc:
        raise CatalogueError(f"catalogue {source} is invalid: {exc}") from exc


def _unique(codes: list[str], what: str) -> set[str]:
    seen: set[str] = set()
    for c in codes:
        if c in seen:
            raise ValueError(f"duplicate {what} {c!r}")
        seen.add(c)
    return seen


def _to_decimal(value: Any, field_name: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"condition on {field_name!r} needs a numeric value")
    try:
        # str() first: a YAML float like 999.99 must become Decimal('999.99'), not its binary
        # approximation.
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"condition on {field_name!r}: {value!r} is not a number") from exc
