"""The project aggregate: what was submitted, the state machine's state, and the task records.

One source of truth: ``Project.state`` (a ``statemachine.ProjectState``) holds every status, and
every change goes through a state machine command; the methods here add what the state machine
does not know about: time limits (``deadlines``), who decided what and when, and document
numbers. The service loads a ``Project``, calls one method and persists the result; the rows of
the database only store it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from approval_svc.domain import statemachine as sm
from approval_svc.domain.catalogue import Matter
from approval_svc.domain.deadlines import TimeLimits
from approval_svc.domain.events import DomainEvent
from approval_svc.domain.workdays import CHINA_TZ, WorkCalendar

DEEMED_CONSENT_OPINION = "deemed consent: no reply within the consultation limit"
FINAL_DECISIONS = frozenset({sm.Decision.APPROVED.value, sm.Decision.REJECTED.value})


def document_number(department: str, decided_at: datetime, serial: int) -> str:
    """``DEPT-YYYY-NNNNNN``: numbered per department and year of the decision (China time)."""
    return f"{department}-{document_year(decided_at)}-{serial:06d}"


def document_year(decided_at: datetime) -> int:
    return decided_at.astimezone(CHINA_TZ).year


@dataclass(frozen=True, slots=True)
class ProjectRecord:
    """What the enterprise submitted; it never changes afterwards."""

    code: str
    credit_code: str
    name: str
    region_code: str
    industry_code: str
    procedure: str
    total_investment: Decimal
    location: str | None
    planned_start: date | None
    description: str | None
    # The trigger fields as submitted (land, eia_category, energy, ...), kept verbatim for the
    # record; routing already turned them into tasks.
    details: Mapping[str, Any]
    submitted_at: datetime
    # Joint punishment: "abnormal" when the enterprise was on the abnormal list when it
    # submitted (``domain.credit.admit``); shown on the project and every task.
    credit_flag: str | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """A command's result: the new project and the events to publish."""

    project: Project
    events: list[DomainEvent] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Project:
    record: ProjectRecord
    state: sm.ProjectState
    updated_at: datetime

    @property
    def code(self) -> str:
        return self.record.code

    @property
    def status(self) -> sm.ProjectStatus:
        return self.state.status

    @property
    def tasks(self) -> tuple[sm.TaskState, ...]:
        return self.state.tasks

    def task(self, task_id: str) -> sm.TaskState:
        return self.state.task(task_id)

    def belongs_to(self, credit_code: str | None) -> bool:
        return credit_code is not None and self.record.credit_code == credit_code

    # --- commands ----------------------------------------------------------------------------

    @classmethod
    def submit(
        cls,
        record: ProjectRecord,
        matters: Sequence[Matter],
        *,
        task_ids: Sequence[str],
        calendar: WorkCalendar,
    ) -> Change:
        """Every required matter becomes a task at once; with none the project is filed."""
        at = record.submitted_at
        tasks = [
            sm.TaskState(
                task_id,
                matter.department,
                matter.code,
                consultative=matter.consultative,
                matter_name=matter.name,
                limits=TimeLimits.assign(
                    day_kind=matter.day_kind,
                    legal_limit=matter.legal_limit,
                    promised_limit=matter.promised_limit,
                    consultative=matter.consultative,
                    at=at,
                    calendar=calendar,
                ),
            )
            for task_id, matter in zip(task_ids, matters, strict=True)
        ]
        transition = sm.submit(record.code, tasks)
        return Change(cls(record, transition.project, at), transition.events)

    def decide(
        self,
        task_id: str,
        *,
        department: str,
        decision: str,
        opinion: str | None,
        missing_materials: Sequence[str],
        at: datetime,
    ) -> Change:
        """A department's decision. A supplement notice stops the task's clock; a final
        decision still needs its document number (``unnumbered`` / ``number_document``)."""
        transition = sm.decide(
            self.state, task_id, department, decision, missing_materials, opinion=opinion
        )
        decided = transition.project.task(task_id)
        limits = decided.limits
        if limits is not None and decided.status is sm.TaskStatus.SUPPLEMENT_REQUIRED:
            limits = limits.pause(at)
        recorded = replace(
            decided,
            decision=decision,
            opinion=opinion,
            decided_at=at,
            # The task shows the list the department sent with its decision.
            missing_materials=tuple(missing_materials),
            limits=limits,
        )
        return self._after(transition, recorded, at)

    def supplement(
        self, task_id: str, materials: Sequence[str], *, at: datetime, calendar: WorkCalendar
    ) -> Change:
        """The enterprise answers the notice: the task is pending again, its deadlines move
        by the days it waited, and its previous decision is cleared."""
        transition = sm.supplement(self.state, task_id, materials)
        task = transition.project.task(task_id)
        resumed = replace(
            task,
            limits=task.limits.resume(at, calendar) if task.limits is not None else None,
            decision=None,
            decided_at=None,
            missing_materials=(),
        )
        return self._after(transition, resumed, at)

    def withdraw(self, *, at: datetime) -> Change:
        transition = sm.withdraw(self.state)
        return Change(replace(self, state=transition.project, updated_at=at), transition.events)

    def deem_consent(self, task_id: str, *, at: datetime) -> Change:
        """A consulted department silent past its reply limit is deemed to consent."""
        transition = sm.deem_consent(self.state, task_id)
        recorded = replace(
            transition.project.task(task_id),
            decision=sm.Decision.APPROVED.value,
            opinion=DEEMED_CONSENT_OPINION,
            decided_at=at,
            missing_materials=(),
        )
        return self._after(transition, recorded, at)

    def unnumbered(self) -> tuple[sm.TaskState, ...]:
        """Finally decided tasks still waiting for their document number."""
        return tuple(
            t
            for t in self.tasks
            if t.decision in FINAL_DECISIONS and t.document_number is None and t.decided_at
        )

    def number_document(self, task_id: str, serial: int) -> Project:
        """Give a finally decided task its document number (``serial`` from the sequence)."""
        task = self.task(task_id)
        assert task.decided_at is not None, "only a decided task gets a document number"
        numbered = replace(
            task, document_number=document_number(task.department, task.decided_at, serial)
        )
        return replace(self, state=_with_task(self.state, numbered))

    def consultation_overdue(self, task_id: str, now: datetime) -> bool:
        task = self.task(task_id)
        return (
            task.consultative
            and task.status is sm.TaskStatus.PENDING
            and task.limits is not None
            and task.limits.reply_overdue(now)
        )

    def _after(self, transition: sm.Transition, task: sm.TaskState, at: datetime) -> Change:
        state = _with_task(transition.project, task)
        return Change(replace(self, state=state, updated_at=at), transition.events)


def _with_task(state: sm.ProjectState, task: sm.TaskState) -> sm.ProjectState:
    return replace(
        state, tasks=tuple(task if t.task_id == task.task_id else t for t in state.tasks)
    )
