"""One pure state machine for a project and its parallel tasks.

Commands take the current state and return a ``Transition`` (new state + events); they never
mutate and never do I/O, so the service can run them inside a transaction, persist the new
state and publish the events in the same outbox write. An invalid command raises a typed
``DomainError`` and, because states are immutable, cannot have changed anything.

The project status is *derived* from its tasks after every command (except ``withdrawn``, which
is the enterprise's act, and ``filed``, which means there were no tasks). Deriving rather than
patching is what makes the outcome independent of the order in which parallel departments decide:

* no tasks                         -> filed
* any task rejected                -> rejected   (the other open tasks were withdrawn)
* every task approved              -> approved
* any task awaiting supplement     -> supplement_required
* otherwise                        -> in_review

Join-once guarantee: ``project.approved``/``project.rejected``/``project.withdrawn`` are emitted
only by the command that moves the project out of an open status, and every command on a closed
project raises ``ProjectClosed``, so each is emitted at most once. A task's final decision is
recorded once because deciding a non-pending task raises ``TaskNotPending``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from approval_svc.domain.deadlines import TimeLimits
from approval_svc.domain.errors import (
    DuplicateTask,
    InvalidCommand,
    InvalidDecision,
    MaterialsRequired,
    MissingMaterialsRequired,
    NotConsultative,
    ProjectClosed,
    TaskNotAwaitingSupplement,
    TaskNotFound,
    TaskNotPending,
    WrongDepartment,
)
from approval_svc.domain.events import (
    DecisionRecorded,
    DomainEvent,
    ProjectApproved,
    ProjectFiled,
    ProjectRejected,
    ProjectSubmitted,
    ProjectWithdrawn,
    SupplementProvided,
    SupplementRequested,
    TaskAssigned,
    TaskWithdrawn,
)


class TaskStatus(StrEnum):
    PENDING = "pending"
    SUPPLEMENT_REQUIRED = "supplement_required"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class ProjectStatus(StrEnum):
    SUBMITTED = "submitted"
    IN_REVIEW = "in_review"
    SUPPLEMENT_REQUIRED = "supplement_required"
    APPROVED = "approved"
    REJECTED = "rejected"
    FILED = "filed"
    WITHDRAWN = "withdrawn"


class Decision(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    SUPPLEMENT_REQUIRED = "supplement_required"


OPEN_TASK_STATUSES = frozenset({TaskStatus.PENDING, TaskStatus.SUPPLEMENT_REQUIRED})
OPEN_PROJECT_STATUSES = frozenset(
    {ProjectStatus.SUBMITTED, ProjectStatus.IN_REVIEW, ProjectStatus.SUPPLEMENT_REQUIRED}
)
CLOSED_PROJECT_STATUSES = frozenset(ProjectStatus) - OPEN_PROJECT_STATUSES


@dataclass(frozen=True, slots=True)
class TaskState:
    task_id: str
    department: str
    matter_code: str
    status: TaskStatus = TaskStatus.PENDING
    consultative: bool = False
    deemed: bool = False  # approved by silence (consultative tasks only)
    # The materials the last decision listed (the open supplement notice, if any).
    missing_materials: tuple[str, ...] = ()
    # The task's record beside its status; commands here carry it along unchanged and
    # ``approval_svc.domain.project`` fills it in. Empty only in tests of statuses alone.
    matter_name: str = ""
    limits: TimeLimits | None = None
    decision: str | None = None
    opinion: str | None = None
    decided_at: datetime | None = None
    document_number: str | None = None

    def __post_init__(self) -> None:
        # Accept plain strings from storage but keep the enum inside (and reject unknown ones).
        object.__setattr__(self, "status", TaskStatus(self.status))
        object.__setattr__(self, "missing_materials", tuple(self.missing_materials))

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_TASK_STATUSES


@dataclass(frozen=True, slots=True)
class ProjectState:
    code: str
    status: ProjectStatus
    tasks: tuple[TaskState, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", ProjectStatus(self.status))
        object.__setattr__(self, "tasks", tuple(self.tasks))
        ids = [t.task_id for t in self.tasks]
        if len(set(ids)) != len(ids):
            raise DuplicateTask(f"project {self.code} has duplicate task ids", field="task_id")

    @property
    def is_closed(self) -> bool:
        return self.status in CLOSED_PROJECT_STATUSES

    def task(self, task_id: str) -> TaskState:
        for t in self.tasks:
            if t.task_id == task_id:
                return t
        raise TaskNotFound(f"task {task_id} not found", field="task_id")


@dataclass(frozen=True, slots=True)
class Transition:
    project: ProjectState
    events: list[DomainEvent] = field(default_factory=list)


def derive_status(tasks: Sequence[TaskState]) -> ProjectStatus:
    """The project status implied by its tasks (see module docstring)."""
    if not tasks:
        return ProjectStatus.FILED
    statuses = {t.status for t in tasks}
    if TaskStatus.REJECTED in statuses:
        return ProjectStatus.REJECTED
    if statuses == {TaskStatus.APPROVED}:
        return ProjectStatus.APPROVED
    if TaskStatus.SUPPLEMENT_REQUIRED in statuses:
        return ProjectStatus.SUPPLEMENT_REQUIRED
    return ProjectStatus.IN_REVIEW


# --- commands ---------------------------------------------------------------------------------


def submit(code: str, tasks: Iterable[TaskState]) -> Transition:
    """A new project with its routed tasks; with no task at all it is filed at once."""
    assigned = tuple(tasks)
    for t in assigned:
        if t.status is not TaskStatus.PENDING:
            raise InvalidCommand(f"new task {t.task_id} must be pending", field="tasks")
    project = ProjectState(code, derive_status(assigned), assigned)  # checks duplicate ids
    events: list[DomainEvent] = [ProjectSubmitted(code, tuple(t.task_id for t in assigned))]
    events += [
        TaskAssigned(code, t.task_id, t.department, t.matter_code, t.consultative) for t in assigned
    ]
    if project.status is ProjectStatus.FILED:
        events.append(ProjectFiled(code))
    return Transition(project, events)


def decide(
    project: ProjectState,
    task_id: str,
    department: str,
    decision: str,
    missing_materials: Iterable[str] = (),
    *,
    opinion: str | None = None,
) -> Transition:
    """A department's decision on one of its tasks.

    Checks, in this order: the task exists (TaskNotFound), it is the caller's (WrongDepartment;
    both 404 so a department cannot probe others' tasks), the project is open (ProjectClosed),
    the task is pending (TaskNotPending; a repeated delivery lands here), then the arguments
    (InvalidDecision, MissingMaterialsRequired).
    """
    task = project.task(task_id)
    if task.department != department:
        raise WrongDepartment(f"task {task_id} not found", field="task_id")
    _require_open(project)
    if task.status is not TaskStatus.PENDING:
        raise TaskNotPending(f"task {task_id} is {task.status}, not pending", field="task_id")
    try:
        verdict = Decision(decision)
    except ValueError:
        raise InvalidDecision(
            f"decision {decision!r} is not one of {[d.value for d in Decision]}",
            field="decision",
        ) from None
    materials: tuple[str, ...] = ()
    if verdict is Decision.SUPPLEMENT_REQUIRED:
        materials = _materials(missing_materials, "missing_materials", MissingMaterialsRequired)
    return _apply_decision(project, task, verdict, materials, opinion=opinion, deemed=False)


def supplement(project: ProjectState, task_id: str, materials: Iterable[str]) -> Transition:
    """The enterprise answers a supplement notice; the task is pending again (clock resumes)."""
    task = project.task(task_id)
    _require_open(project)
    if task.status is not TaskStatus.SUPPLEMENT_REQUIRED:
        raise TaskNotAwaitingSupplement(
            f"task {task_id} is {task.status}, not awaiting a supplement", field="task_id"
        )
    supplied = _materials(materials, "materials", MaterialsRequired)
    updated = replace(task, status=TaskStatus.PENDING, missing_materials=())
    tasks = _replace_task(project.tasks, updated)
    event = SupplementProvided(
        project.code, task.task_id, task.department, task.matter_code, supplied
    )
    return Transition(replace(project, status=derive_status(tasks), tasks=tasks), [event])


def withdraw(project: ProjectState) -> Transition:
    """The enterprise withdraws an open project; every open task is withdrawn with it."""
    _require_open(project)
    tasks, events = _withdraw_open(project, reason="project_withdrawn")
    events.append(ProjectWithdrawn(project.code))
    return Transition(replace(project, status=ProjectStatus.WITHDRAWN, tasks=tasks), events)


def deem_consent(project: ProjectState, task_id: str) -> Transition:
    """Silence of a consulted department past its reply limit counts as consent."""
    task = project.task(task_id)
    _require_open(project)
    if not task.consultative:
        raise NotConsultative(f"task {task_id} is not a consultation", field="task_id")
    if task.status is not TaskStatus.PENDING:
        raise TaskNotPending(f"task {task_id} is {task.status}, not pending", field="task_id")
    return _apply_decision(project, task, Decision.APPROVED, (), opinion=None, deemed=True)


# --- internals --------------------------------------------------------------------------------


def _apply_decision(
    project: ProjectState,
    task: TaskState,
    verdict: Decision,
    materials: tuple[str, ...],
    *,
    opinion: str | None,
    deemed: bool,
) -> Transition:
    code = project.code
    recorded = DecisionRecorded(
        code,
        task.task_id,
        task.department,
        task.matter_code,
        decision=verdict.value,
        deemed=deemed,
        missing_materials=materials,
        opinion=opinion,
    )
    events: list[DomainEvent] = [recorded]

    if verdict is Decision.SUPPLEMENT_REQUIRED:
        updated = replace(task, status=TaskStatus.SUPPLEMENT_REQUIRED, missing_materials=materials)
        events.append(
            SupplementRequested(code, task.task_id, task.department, task.matter_code, materials)
        )
        tasks = _replace_task(project.tasks, updated)
        return Transition(replace(project, status=derive_status(tasks), tasks=tasks), events)

    if verdict is Decision.APPROVED:
        updated = replace(task, status=TaskStatus.APPROVED, deemed=deemed)
        tasks = _replace_task(project.tasks, updated)
        status = derive_status(tasks)
        if status is ProjectStatus.APPROVED:
            events.append(ProjectApproved(code))
        return Transition(replace(project, status=status, tasks=tasks), events)

    # Rejected: one refusal ends the parallel review; nobody should keep working on the rest.
    updated = replace(task, status=TaskStatus.REJECTED)
    interim = replace(project, tasks=_replace_task(project.tasks, updated))
    tasks, withdrawn_events = _withdraw_open(interim, reason="project_rejected")
    events += withdrawn_events
    events.append(ProjectRejected(code, rejected_by=task.task_id))
    return Transition(replace(project, status=ProjectStatus.REJECTED, tasks=tasks), events)


def _withdraw_open(
    project: ProjectState, *, reason: str
) -> tuple[tuple[TaskState, ...], list[DomainEvent]]:
    tasks: list[TaskState] = []
    events: list[DomainEvent] = []
    for t in project.tasks:
        if t.is_open:
            t = replace(t, status=TaskStatus.WITHDRAWN)
            events.append(
                TaskWithdrawn(project.code, t.task_id, t.department, t.matter_code, reason)
            )
        tasks.append(t)
    return tuple(tasks), events


def _replace_task(tasks: tuple[TaskState, ...], updated: TaskState) -> tuple[TaskState, ...]:
    return tuple(updated if t.task_id == updated.task_id else t for t in tasks)


def _require_open(project: ProjectState) -> None:
    if project.is_closed:
        raise ProjectClosed(f"project {project.code} is {project.status}", field="project_code")


def _materials(
    items: Iterable[str], field_name: str, error: type[InvalidCommand]
) -> tuple[str, ...]:
    """Trimmed, de-duplicated (order kept) and non-empty; a blank entry is refused."""
    if isinstance(items, str):
        raise error(f"{field_name} must be a list of strings", field=field_name)
    cleaned: list[str] = []
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            raise error(f"{field_name}[{i}] must be a non-empty string", field=field_name)
        if item.strip() not in cleaned:
            cleaned.append(item.strip())
    if not cleaned:
        raise error(f"{field_name} must list at least one material", field=field_name)
    return tuple(cleaned)
