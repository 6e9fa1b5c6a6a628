"""Pure domain layer of the approval service: no web, database or broker imports.

Modules: ``catalogue`` (departments, matters, routing rules, holidays as data: validated here,
read from its file by ``approval_svc.catalogue_file``), ``facts`` and ``routing`` (which matters
a submission needs), ``identifiers`` (project, credit, region and industry codes), ``workdays``
(China working days) and ``deadlines`` (a task's time limits, pause and extension),
``statemachine`` and ``events`` (the statuses of a project and its parallel tasks), ``project``
(the aggregate: submission record, state and task records, document numbers), ``commands``
(what callers ask), ``audit`` (the timeline), ``errors`` (typed errors by HTTP-like family).
"""

from approval_svc.domain.catalogue import (
    Catalogue,
    Condition,
    Department,
    Matter,
    RoutingRule,
    parse_catalogue,
)
from approval_svc.domain.errors import (
    CatalogueError,
    Conflict,
    DomainError,
    InvalidCommand,
    InvalidIdentifier,
    NotFound,
)
from approval_svc.domain.facts import SubmissionFacts
from approval_svc.domain.identifiers import (
    ProjectCode,
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
from approval_svc.domain.routing import route
from approval_svc.domain.statemachine import (
    Decision,
    ProjectState,
    ProjectStatus,
    TaskState,
    TaskStatus,
    Transition,
    decide,
    deem_consent,
    derive_status,
    submit,
    supplement,
    withdraw,
)
from approval_svc.domain.workdays import (
    CHINA_TZ,
    DayKind,
    WorkCalendar,
    YearSchedule,
    fraction_elapsed,
)

__all__ = [
    "CHINA_TZ",
    "Catalogue",
    "CatalogueError",
    "Condition",
    "Conflict",
    "DayKind",
    "Decision",
    "Department",
    "DomainError",
    "InvalidCommand",
    "InvalidIdentifier",
    "Matter",
    "NotFound",
    "ProjectCode",
    "ProjectState",
    "ProjectStatus",
    "RoutingRule",
    "SubmissionFacts",
    "TaskState",
    "TaskStatus",
    "Transition",
    "WorkCalendar",
    "YearSchedule",
    "code_prefix",
    "decide",
    "deem_consent",
    "derive_status",
    "fraction_elapsed",
    "industry_division",
    "is_project_code",
    "make_project_code",
    "parse_catalogue",
    "parse_project_code",
    "region_info",
    "region_name",
    "route",
    "submit",
    "supplement",
    "validate_credit_code",
    "validate_industry_code",
    "validate_region_code",
    "withdraw",
]
