"""Domain events emitted by the state machine.

Small frozen records; ``type`` is the CloudEvent type of the contract, so the service maps an
event to its CloudEvent (adding the project or task representation as ``data``) without a table.
Events carry only identities and what the command decided; the service owns timestamps, ids,
correlation and the full resource payloads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from shared.events import EventType


@dataclass(frozen=True, slots=True)
class DomainEvent:
    type: ClassVar[EventType]
    project_code: str


@dataclass(frozen=True, slots=True)
class TaskEvent(DomainEvent):
    task_id: str
    department: str
    matter_code: str


@dataclass(frozen=True, slots=True)
class ProjectSubmitted(DomainEvent):
    type: ClassVar[EventType] = EventType.PROJECT_SUBMITTED
    task_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProjectFiled(DomainEvent):
    type: ClassVar[EventType] = EventType.PROJECT_FILED


@dataclass(frozen=True, slots=True)
class TaskAssigned(TaskEvent):
    type: ClassVar[EventType] = EventType.TASK_ASSIGNED
    consultative: bool = False


@dataclass(frozen=True, slots=True)
class DecisionRecorded(TaskEvent):
    type: ClassVar[EventType] = EventType.DECISION_RECORDED
    decision: str = ""
    # True when a consultative task was approved by silence (deemed consent), not by a person.
    deemed: bool = False
    missing_materials: tuple[str, ...] = ()
    opinion: str | None = None


@dataclass(frozen=True, slots=True)
class SupplementRequested(TaskEvent):
    type: ClassVar[EventType] = EventType.PROJECT_SUPPLEMENT_REQUESTED
    missing_materials: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SupplementProvided(TaskEvent):
    type: ClassVar[EventType] = EventType.PROJECT_SUPPLEMENT_PROVIDED
    materials: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TaskWithdrawn(TaskEvent):
    type: ClassVar[EventType] = EventType.TASK_WITHDRAWN
    reason: str = ""  # "project_rejected" | "project_withdrawn"


@dataclass(frozen=True, slots=True)
class ProjectApproved(DomainEvent):
    type: ClassVar[EventType] = EventType.PROJECT_APPROVED


@dataclass(frozen=True, slots=True)
class ProjectRejected(DomainEvent):
    type: ClassVar[EventType] = EventType.PROJECT_REJECTED
    rejected_by: str = ""  # task_id of the rejecting task


@dataclass(frozen=True, slots=True)
class ProjectWithdrawn(DomainEvent):
    type: ClassVar[EventType] = EventType.PROJECT_WITHDRAWN


EVENT_CLASSES: tuple[type[DomainEvent], ...] = (
    ProjectSubmitted,
    ProjectFiled,
    TaskAssigned,
    DecisionRecorded,
    SupplementRequested,
    SupplementProvided,
    TaskWithdrawn,
    ProjectApproved,
    ProjectRejected,
    ProjectWithdrawn,
)
EVENT_TYPES: frozenset[EventType] = frozenset(c.type for c in EVENT_CLASSES)
