"""Use cases of the approval service: load the project, run one domain command, record it.

Each takes a command (``approval_svc.domain.commands``) and a unit of work, keyword-only, and
raises domain errors only. Recording a change means: the project saved, each domain event
published through the outbox (``publishing`` decides the topics) and written to the audit
trail, all in the unit of work's one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from approval_svc.domain.audit import audit_entry
from approval_svc.domain.catalogue import Catalogue
from approval_svc.domain.commands import (
    SYSTEM,
    Actor,
    DecideTask,
    IdempotencyKey,
    ProvideSupplement,
    SubmitProject,
    WithdrawProject,
)
from approval_svc.domain.credit import CreditStanding, admit, newest
from approval_svc.domain.errors import (
    DomainError,
    IdempotencyKeyReused,
    ProjectNotFound,
    TaskNotFound,
)
from approval_svc.domain.events import DomainEvent
from approval_svc.domain.identifiers import code_prefix, make_project_code
from approval_svc.domain.project import Project, ProjectRecord, document_year
from approval_svc.domain.routing import route
from approval_svc.domain.workdays import CHINA_TZ, WorkCalendar
from approval_svc.publishing import publish
from approval_svc.representations import project_data, task_data
from approval_svc.unit_of_work import CommitConflict, UnitOfWork
from shared.clock import Clock
from shared.events import CloudEvent, ProjectData, TaskData


@dataclass(frozen=True, slots=True)
class Submitted:
    created: bool  # False when an earlier request with the same key is answered again
    project: dict[str, Any]  # the project as first answered (JSON)


async def submit_project(
    *,
    command: SubmitProject,
    uow: UnitOfWork,
    catalogue: Catalogue,
    calendar: WorkCalendar,
    clock: Clock,
) -> Submitted:
    """Assign a code, route to every department at once, store it all with its events.

    Joint punishment first: a dishonest enterprise is refused (``DishonestEnterprise``) before
    anything is stored, its Idempotency-Key included; an abnormal one's project is flagged."""
    key = command.idempotency
    if key is not None:
        replay = await _replay(uow, command.credit_code, key)
        if replay is not None:
            return Submitted(created=False, project=replay)
    flag = admit(command.credit_code, await uow.credit.get(command.credit_code))

    now = clock.now()
    month = now.astimezone(CHINA_TZ).date()
    where = (command.region_code, command.industry_code, command.procedure)
    serial = await uow.sequences.next_project_serial(code_prefix(month, *where))
    matters = [catalogue.matter(code) for code in route(command.facts, catalogue)]
    record = ProjectRecord(
        code=make_project_code(month, *where, serial),
        credit_code=command.credit_code,
        name=command.name,
        region_code=command.region_code,
        industry_code=command.industry_code,
        procedure=command.procedure,
        total_investment=command.total_investment,
        location=command.location,
        planned_start=command.planned_start,
        description=command.description,
        details=command.details,
        submitted_at=now,
        credit_flag=flag.value if flag is not None else None,
    )
    change = Project.submit(
        record, matters, task_ids=[str(uuid.uuid4()) for _ in matters], calendar=calendar
    )
    uow.projects.add(change.project)
    _record(uow, change.project, change.events, actor=command.actor, at=now)
    representation = project_data(change.project).model_dump(mode="json")
    if key is not None:
        uow.idempotency.add(command.credit_code, key.key, key.fingerprint, representation, now)
    try:
        await uow.commit()
    except CommitConflict:
        # A concurrent retry with the same key won the race: answer with its response.
        await uow.rollback()
        replay = await _replay(uow, command.credit_code, key) if key is not None else None
        if replay is None:
            raise
        return Submitted(created=False, project=replay)
    return Submitted(created=True, project=representation)


async def decide_task(*, command: DecideTask, uow: UnitOfWork, clock: Clock) -> TaskData:
    """A department's decision, by HTTP or by Kafka (same command, same checks, same effects)."""
    project = await _project_of_task(uow, command.task_id)
    now = clock.now()
    change = project.decide(
        command.task_id,
        department=command.department,
        decision=command.decision,
        opinion=command.opinion,
        missing_materials=command.missing_materials,
        at=now,
    )
    project = await _number_documents(uow, change.project)
    await uow.projects.save(project)
    _record(uow, project, change.events, actor=command.actor, at=now, causation=command.causation)
    await uow.commit()
    return task_data(
        project.code, project.task(command.task_id), credit_flag=project.record.credit_flag
    )


async def provide_supplement(
    *, command: ProvideSupplement, uow: UnitOfWork, clock: Clock, calendar: WorkCalendar
) -> TaskData:
    """The enterprise supplies what a notice asked for; the task's clock resumes."""
    project = await _project_of_task(uow, command.task_id)
    if not project.belongs_to(command.credit_code):
        raise TaskNotFound(f"task {command.task_id} not found", field="task_id")
    now = clock.now()
    change = project.supplement(command.task_id, command.materials, at=now, calendar=calendar)
    await uow.projects.save(change.project)
    _record(
        uow,
        change.project,
        change.events,
        actor=command.actor,
        at=now,
        extra={"materials": list(command.materials)},
    )
    await uow.commit()
    project = change.project
    return task_data(
        project.code, project.task(command.task_id), credit_flag=project.record.credit_flag
    )


async def withdraw_project(
    *, command: WithdrawProject, uow: UnitOfWork, clock: Clock
) -> ProjectData:
    code = command.project_code
    project = await uow.projects.get(code)
    if project is None or not project.belongs_to(command.credit_code):
        raise ProjectNotFound(f"project {code} not found", field="project_code")
    now = clock.now()
    change = project.withdraw(at=now)
    await uow.projects.save(change.project)
    _record(uow, change.project, change.events, actor=command.actor, at=now)
    await uow.commit()
    return project_data(change.project)


async def record_credit_status(*, standing: CreditStanding, uow: UnitOfWork, clock: Clock) -> bool:
    """Supervision changed an enterprise's credit status: keep it unless a later change is
    already known (events may come late or twice). True when the view changed."""
    current = await uow.credit.get(standing.credit_code, for_update=True)
    kept = newest(current, standing)
    if kept is None:
        return False
    await uow.credit.put(kept, at=clock.now())
    await uow.commit()
    return True


async def deem_silent_consultations(*, uow: UnitOfWork, clock: Clock, limit: int = 200) -> int:
    """Consulted departments silent past their reply limit are deemed to consent."""
    now = clock.now()
    due = await uow.projects.consultations_due(now, limit)
    for task_id in due:
        project = await _project_of_task(uow, task_id)
        try:
            change = project.deem_consent(task_id, at=now)
        except DomainError:
            continue  # decided or closed meanwhile
        project = await _number_documents(uow, change.project)
        await uow.projects.save(project)
        _record(uow, project, change.events, actor=SYSTEM, at=now)
    await uow.commit()
    return len(due)


# --- internals ----------------------------------------------------------------------------------


async def _replay(uow: UnitOfWork, owner: str, key: IdempotencyKey) -> dict[str, Any] | None:
    stored = await uow.idempotency.get(owner, key.key)
    if stored is None:
        return None
    fingerprint, response = stored
    if fingerprint != key.fingerprint:
        raise IdempotencyKeyReused(
            "Idempotency-Key was already used with a different request body",
            field="Idempotency-Key",
        )
    return response


async def _project_of_task(uow: UnitOfWork, task_id: str) -> Project:
    project = await uow.projects.get_by_task(task_id)
    if project is None:
        raise TaskNotFound(f"task {task_id} not found", field="task_id")
    return project


async def _number_documents(uow: UnitOfWork, project: Project) -> Project:
    """Every final decision carries a document number of its department and year."""
    for task in project.unnumbered():
        assert task.decided_at is not None
        serial = await uow.sequences.next_document_serial(
            task.department, document_year(task.decided_at)
        )
        project = project.number_document(task.task_id, serial)
    return project


def _record(
    uow: UnitOfWork,
    project: Project,
    events: Sequence[DomainEvent],
    *,
    actor: Actor,
    at: datetime,
    causation: CloudEvent | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Publish ``events`` through the outbox and write each to the audit trail."""
    for published in publish(project, events, at=at, causation=causation):
        for message in published.messages:
            uow.publish(message)
        uow.audit(
            audit_entry(
                project,
                published.domain_event,
                actor=actor,
                at=at,
                event_id=published.cloud_event.id,
                extra=extra,
            )
        )
