"""The rules of notification, free of HTTP, SQL and Kafka.

- who may see an event (an enterprise its own projects, a department its own tasks and the
  projects it has tasks in, ops everything),
- which subscriptions want an event,
- how a webhook body is signed,
- when a failed delivery is tried again,
- what a valid subscription target is.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from shared.events import EVENT_DATA_MODELS

WILDCARD = "*"
KNOWN_EVENT_TYPES: frozenset[str] = frozenset(EVENT_DATA_MODELS)
"""Types a subscription may name (besides '*')."""

TASK_EVENT_TYPES: frozenset[str] = frozenset(
    {"approval.task.assigned", "approval.task.withdrawn", "approval.decision.recorded"}
)
PROJECT_INTRODUCING_TYPES: frozenset[str] = frozenset({"project.submitted", "project.filed"})
"""Events whose data is the whole project (its credit code and tasks): they feed the projection."""

Channel = Literal["webhook", "email"]
CHANNELS: tuple[str, ...] = ("webhook", "email")
LOG_CHANNEL = "log"
BUILTIN_LOG_SUBSCRIPTION = "builtin-log"
SIGNATURE_HEADER = "X-Signature"
SIGNATURE_PREFIX = "sha256="
CLOUDEVENTS_JSON = "application/cloudevents+json"


# --- who is looking ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Viewer:
    """The tenant a subscription or stream belongs to (role plus its tenant claim)."""

    role: Literal["enterprise", "department", "ops"]
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


SYSTEM_TENANT = "system"
"""Owner of the built-in subscriptions (nobody's own; ops sees them read-only)."""


# --- what an event is about --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventFacts:
    """What an event itself says about its project and who is concerned."""

    project_code: str | None
    credit_code: str | None = None
    departments: frozenset[str] = frozenset()
    task_scoped: bool = False
    """Only the named departments are concerned (a task event, a task's alert)."""


@dataclass(frozen=True, slots=True)
class KnownProject:
    """What the projection knows of a project (from earlier approval.projects events)."""

    credit_code: str | None
    departments: frozenset[str] = frozenset()


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
    return EventFacts(project_code, credit_code, frozenset(departments))


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


def wants(event_types: Iterable[str], event_type: str) -> bool:
    types = set(event_types)
    return WILDCARD in types or event_type in types


# --- signing -----------------------------------------------------------------------------


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of the exact body>`, the value of the X-Signature header."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return header is not None and hmac.compare_digest(signature(secret, body), header)


# --- retries -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: attempt n failed → wait base * factor**(n-1), capped (real seconds)."""

    base_s: float = 2.0
    factor: float = 2.0
    max_delay_s: float = 300.0

    def __post_init__(self) -> None:
        if self.base_s < 0 or self.factor < 1 or self.max_delay_s < 0:
            raise ValueError("retry policy needs base_s >= 0, factor >= 1, max_delay_s >= 0")

    def delay_after(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        if attempt < 1:
            raise ValueError("attempts are numbered from 1")
        exponent = min(attempt - 1, 64)  # no float overflow for absurd attempt counts
        return float(min(self.base_s * self.factor**exponent, self.max_delay_s))


def permanent_failure(status_code: int | None) -> bool:
    """A response that retrying cannot fix: 410 Gone (the receiver says it is gone for good)."""
    return status_code == 410


def next_delay(
    policy: RetryPolicy, *, attempts: int, max_attempts: int, status_code: int | None
) -> float | None:
    """Seconds until the next attempt after `attempts` failed ones, or None: give up."""
    if attempts >= max_attempts or permanent_failure(status_code):
        return None
    return policy.delay_after(attempts)


# --- subscription targets ----------------------------------------------------------------

_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
MAX_TARGET_LENGTH = 2048


def target_problem(channel: str, target: str) -> str | None:
    """Why `target` is not a valid address for `channel`, or None when it is."""
    if len(target) > MAX_TARGET_LENGTH:
        return f"must be at most {MAX_TARGET_LENGTH} characters"
    if channel == "webhook":
        if any(c.isspace() for c in target):
            return "a webhook URL may not contain spaces"
        try:
            parts = urlsplit(target)
            _ = parts.port  # raises on a non-numeric or out-of-range port
        except ValueError as exc:
            return f"not a valid URL: {exc}"
        if parts.scheme not in ("http", "https"):
            return "a webhook target must be an http:// or https:// URL"
        if not parts.hostname:
            return "a webhook URL needs a host"
        return None
    if channel == "email":
        if len(target) > 254 or not _EMAIL.match(target):
            return "not a valid e-mail address"
        return None
    return f"unknown channel {channel!r}"


def event_types_problem(event_types: Iterable[str]) -> str | None:
    types = list(event_types)
    if not types:
        return "at least one event type (or '*') is required"
    unknown = sorted({t for t in types if t != WILDCARD and t not in KNOWN_EVENT_TYPES})
    if unknown:
        return "unknown event type(s): " + ", ".join(unknown)
    return None


def normalise_event_types(event_types: Iterable[str]) -> list[str]:
    """Deduplicated, in the order given; '*' alone when present."""
    types = list(dict.fromkeys(event_types))
    return [WILDCARD] if WILDCARD in types else types
