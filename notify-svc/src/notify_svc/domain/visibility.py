"""Who may see an event: an enterprise its own projects, a department its own tasks and the
projects it has tasks in, ops everything.

An event says part of this itself (`facts_of`); the rest comes from what earlier events taught
the audience projection (`KnownProject`, fed as `projection_update` says).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from shared.events import TASK_EVENT_TYPES, EventType

Role = Literal["enterprise", "department", "ops"]

PROJECT_INTRODUCING_TYPES: frozenset[EventType] = frozenset(
    {EventType.PROJECT_SUBMITTED, EventType.PROJECT_FILED}
)
"""Events whose data is the whole project (its credit code and tasks): they feed the projection."""


@dataclass(frozen=True, slots=True)
class Viewer:
    """The tenant a subscription or stream belongs to (role plus its tenant claim)."""

    role: Role
    credit_code: str | None = None
    department: str | None = None

    @property
    def is_ops(self) -> bool:
        return self.role == "ops"

    @property
    def tenant(self) -> str:
        """Key of the tenant: subscriptions are shared by every user of it."""
        if self.role == "enterprise":
            return f"enterprise:{self.credit_code}"
        if self.role == "department":
            return f"department:{self.department}"
        return "ops"


def viewer_of_owner(role: str, credit_code: str | None, department: str | None) -> Viewer:
    """The viewer a stored subscription acts as (the system's own subscriptions act as ops)."""
    if role == "enterprise":
        return Viewer("enterprise", credit_code=credit_code, department=department)
    if role == "department":
        return Viewer("department", credit_code=credit_code, department=department)
    return Viewer("ops", credit_code=credit_code, department=department)


@dataclass(frozen=True, slots=True)
class EventFacts:
    """What an event itself says about its project and who is concerned."""

    project_code: str | None
    credit_code: str | None = None
    departments: frozenset[str] = frozenset()
    task_scoped: bool = False
    """Only the named departments are concerned (a task event, a task's alert)."""
    contact_email: str | None = None
    """Where the submission asked to be told (a project event carries it)."""


@dataclass(frozen=True, slots=True)
class KnownProject:
    """What the projection knows of a project (from earlier approval.projects events)."""

    credit_code: str | None
    departments: frozenset[str] = frozenset()
    contact_email: str | None = None

    def merged(
        self, credit_code: str | None, departments: frozenset[str], contact_email: str | None
    ) -> KnownProject:
        """The facts only grow: an enterprise never changes, departments are only added."""
        return KnownProject(
            credit_code or self.credit_code,
            self.departments | departments,
            contact_email or self.contact_email,
        )


@dataclass(frozen=True, slots=True)
class Audience:
    """Who may see one event."""

    credit_code: str | None
    departments: frozenset[str] = field(default_factory=frozenset)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def facts_of(event_type: str, subject: str | None, data: Any) -> EventFacts:
    """Read the facts from the raw `data` (tolerant: missing fields just mean 'unknown')."""
    if not isinstance(data, Mapping):
        return EventFacts(project_code=subject)
    project_code = _text(data.get("project_code")) or subject
    credit_code = _text(data.get("credit_code"))
    contact_email = _text(data.get("contact_email"))
    department = _text(data.get("department"))
    if department is not None:
        # A task event, a department's decision or an alert about one task: its department only.
        return EventFacts(project_code, credit_code, frozenset({department}), task_scoped=True)
    if event_type in TASK_EVENT_TYPES:
        return EventFacts(project_code, credit_code, frozenset(), task_scoped=True)
    tasks = data.get("tasks")
    departments: set[str] = set()
    if isinstance(tasks, list):
        for task in tasks:
            if isinstance(task, Mapping) and (dept := _text(task.get("department"))):
                departments.add(dept)
    return EventFacts(
        project_code, credit_code, frozenset(departments), contact_email=contact_email
    )


def needs_projection(facts: EventFacts) -> bool:
    """Whether the audience is incomplete without what the projection knows."""
    return facts.project_code is not None and (facts.credit_code is None or not facts.task_scoped)


def audience_of(facts: EventFacts, known: KnownProject | None) -> Audience:
    credit_code = facts.credit_code or (known.credit_code if known else None)
    departments = facts.departments
    if not facts.task_scoped and known is not None:
        departments = departments | known.departments
    return Audience(credit_code=credit_code, departments=departments)


def may_see(viewer: Viewer, audience: Audience | None) -> bool:
    """Ops sees all; an enterprise its own projects; a department its tasks and their projects.

    `audience` None means "not resolved": only ops may see such an event.
    """
    if viewer.is_ops:
        return True
    if audience is None:
        return False
    if viewer.role == "enterprise":
        return audience.credit_code is not None and audience.credit_code == viewer.credit_code
    return viewer.department is not None and viewer.department in audience.departments


@dataclass(frozen=True, slots=True)
class ProjectionUpdate:
    """What one event teaches the audience projection about its project."""

    project_code: str
    credit_code: str | None
    departments: frozenset[str]
    records_owner: bool
    """The event introduces the project: its enterprise is recorded."""
    contact_email: str | None = None


def projection_update(event_type: str, facts: EventFacts) -> ProjectionUpdate | None:
    """Only events that introduce a project (its enterprise, its tasks) or a task feed it."""
    code = facts.project_code
    if code is None:
        return None
    if event_type in PROJECT_INTRODUCING_TYPES and facts.credit_code:
        return ProjectionUpdate(
            code,
            facts.credit_code,
            facts.departments,
            records_owner=True,
            contact_email=facts.contact_email,
        )
    if event_type == EventType.TASK_ASSIGNED and facts.departments:
        return ProjectionUpdate(code, facts.credit_code, facts.departments, records_owner=False)
    return None
