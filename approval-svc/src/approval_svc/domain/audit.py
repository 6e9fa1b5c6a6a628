"""The audit trail: one timeline entry per domain event, saying who did what to which task."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from approval_svc.domain.commands import Actor
from approval_svc.domain.events import DomainEvent, TaskEvent
from approval_svc.domain.project import Project


@dataclass(frozen=True, slots=True)
class AuditEntry:
    project_code: str
    at: datetime
    action: str
    actor: Actor
    event_id: str  # the CloudEvent that told the world
    task_id: str | None = None
    department: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


def audit_entry(
    project: Project,
    event: DomainEvent,
    *,
    actor: Actor,
    at: datetime,
    event_id: str,
    extra: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """The entry for ``event``: ``extra`` plus what the event decided (empty values left out)."""
    detail: dict[str, Any] = dict(extra or {})
    task = project.task(event.task_id) if isinstance(event, TaskEvent) else None
    if task is not None:
        detail.update(
            {
                k: v
                for k, v in (
                    ("matter_code", task.matter_code),
                    ("decision", getattr(event, "decision", None)),
                    ("opinion", getattr(event, "opinion", None)),
                    ("missing_materials", list(getattr(event, "missing_materials", ()))),
                    ("deemed", getattr(event, "deemed", None)),
                    ("reason", getattr(event, "reason", None)),
                )
                if v not in (None, [], False, "")
            }
        )
    return AuditEntry(
        project_code=project.code,
        at=at,
        action=event.type,
        actor=actor,
        event_id=event_id,
        task_id=task.task_id if task else None,
        department=task.department if task else None,
        detail=detail,
    )
