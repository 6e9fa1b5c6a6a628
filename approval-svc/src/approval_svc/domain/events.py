"""Domain events emitted by the state machine.

Small frozen records; ``type`` is the CloudEvent type of the contract, so the service maps an
event to its CloudEvent (adding the project or task representation as ``data``) without a table.
Events carry only identities and what the command decided; the service owns timestamps, ids,
correlation and the full resource payloads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class DomainEvent:
    type: ClassVar[str] = ""
    project_code: str


@dataclass(frozen=True, slots=True)
class TaskEvent(DomainEvent):
    task_id: str
    department: str
    matter_code: str


@dataclass(frozen=True, slots=True)
class ProjectSubmitted(DomainEvent):
    type: ClassVar[str] = "project.submitted"
    task_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProjectFiled(DomainEvent):
    type: ClassVar[str] = "project.filed"


@dataclass(frozen=True, slots=True)
class TaskAssigned(TaskEvent):
    type: ClassVar[str] = "approval.task.assigned"
    consultative: bool = False


@dataclass(frozen=True, slots=True)
class DecisionRecorded(TaskEvent):
    type: ClassVar[str] = "approval.decision.recorded"
    decision: str = ""
    # True when a consultative task was approved by silence (deemed consent), not by a person.
    deemed: bool = False
    missing_materials: tuple[str, ...] = ()
    opinion: str | None = None


@dataclass(frozen=True, slots=True)
class SupplementRequested(TaskEvent):
    type: ClassVar[str] = "project.supplement_requested"
    missing_materials: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SupplementProvided(TaskEvent):
    type: ClassVar[str] = "project.supplement_provided"
    materials: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TaskWithdrawn(TaskEvent):
    type: ClassVar[str] = "approval.task.withdrawn"
    reason: str = ""  # "project_rejected" | "project_withdrawn"


@dataclass(frozen=True, slots=True)
class ProjectApproved(DomainEvent):
    type: ClassVar[str] = "project.approved"


@dataclass(frozen=True, slots=True)
class ProjectRejected(DomainEvent):
    type: ClassVar[str] = "project.rejected"
    rejected_by: str = ""  # task_id of the rejecting task


@dataclass(frozen=True, slots=True)
class ProjectWithdrawn(DomainEvent):
    type: ClassVar[str] = "project.withdrawn"


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
EVENT_TYPES: frozenset[str] = frozenset(c.type for c in EVENT_CLASSES)
