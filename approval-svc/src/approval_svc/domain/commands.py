"""What the outside world asks of the approval service, as plain values.

The HTTP routes and the Kafka consumer build these; the use cases in ``approval_svc.handlers``
take them. A decision is a ``DecideTask`` whichever way it arrives, so both paths run exactly
the same checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from approval_svc.domain.facts import SubmissionFacts
from shared.events import CloudEvent


@dataclass(frozen=True, slots=True)
class Actor:
    """Who caused a change, for the audit trail."""

    name: str
    role: str


SYSTEM = Actor("approval-svc", "system")


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """A client's key for a request, with a fingerprint of the request it came with."""

    key: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class SubmitProject:
    credit_code: str  # the enterprise's, from its token
    name: str
    region_code: str
    industry_code: str
    procedure: str
    total_investment: Decimal
    location: str | None
    planned_start: date | None
    description: str | None
    facts: SubmissionFacts  # what routing looks at
    details: Mapping[str, Any]  # the trigger fields as submitted (JSON), kept for the record
    actor: Actor
    idempotency: IdempotencyKey | None = None


@dataclass(frozen=True, slots=True)
class DecideTask:
    task_id: str
    department: str  # the deciding department (its token, or the event's data)
    decision: str
    opinion: str | None
    missing_materials: tuple[str, ...]
    actor: Actor
    causation: CloudEvent | None = None  # the event that carried the decision, if any


@dataclass(frozen=True, slots=True)
class ProvideSupplement:
    task_id: str
    credit_code: str | None  # the enterprise answering; only the project's owner may
    materials: tuple[str, ...]
    actor: Actor


@dataclass(frozen=True, slots=True)
class WithdrawProject:
    project_code: str
    credit_code: str | None  # only the project's owner may withdraw it
    actor: Actor
