"""Use cases of the approval service: each runs one transaction through the pure state machine.

Dependencies come in as keyword arguments; the HTTP routes and the Kafka consumer call the
same functions, so both decision paths run exactly the same checks.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from approval_svc.domain import statemachine as sm
from approval_svc.domain.catalogue import Catalogue
from approval_svc.domain.errors import DomainError, InvalidIdentifier, TaskNotFound
from approval_svc.domain.events import DomainEvent, TaskEvent
from approval_svc.domain.facts import SubmissionFacts
from approval_svc.domain.identifiers import code_prefix, make_project_code, validate_credit_code
from approval_svc.domain.routing import route
from approval_svc.domain.workdays import CHINA_TZ, WorkCalendar
from approval_svc.models import IdempotencyRecord, Project, Task, TimelineEntry
from approval_svc.repository import (
    Aggregate,
    load_aggregate,
    next_document_number,
    next_serial,
    project_code_of_task,
    project_data,
    task_data,
)
from approval_svc.schemas import DecisionIn, ProjectIn
from shared.auth import Principal
from shared.clock import Clock
from shared.events import APPROVAL_SOURCE, CloudEvent, TaskData, new_event
from shared.logs import correlation_id
from shared.outbox import UnitOfWork
from shared.problems import ProblemError, not_found
from shared.topics import APPROVAL_PROJECTS, tasks_topic

CONSULTATION_REPLY_DAYS = 7  # working days of silence that count as consent
TASK_TOPIC_EVENTS = frozenset({"approval.task.assigned", "approval.task.withdrawn"})


class Actor:
    """Who caused a change, for the audit trail."""

    def __init__(self, name: str, role: str) -> None:
        self.name = name
        self.role = role

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(principal.sub, principal.role.value)


SYSTEM = Actor("approval-svc", "system")


# --- submission -------------------------------------------------------------------------


def _request_hash(body: ProjectIn) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _replay(uow: UnitOfWork, owner: str, key: str, digest: str) -> dict[str, Any] | None:
    record = (
        await uow.session.exec(
            select(IdempotencyRecord)
            .where(IdempotencyRecord.owner == owner)
            .where(IdempotencyRecord.key == key)
        )
    ).first()
    if record is None:
        return None
    if record.request_hash != digest:
        raise ProblemError(
            status=422,
            title="Idempotency Key Reused",
            detail="Idempotency-Key was already used with a different request body",
            errors=[{"loc": ["header", "Idempotency-Key"], "msg": "reused with another body"}],
        )
    response: dict[str, Any] = record.response
    return response


async def submit_project(
    *,
    uow: UnitOfWork,
    catalogue: Catalogue,
    calendar: WorkCalendar,
    clock: Clock,
    principal: Principal,
    body: ProjectIn,
    idempotency_key: str | None = None,
) -> tuple[bool, dict[str, Any]]:
    """Assign a code, route to every department at once, store it all with its events.

    Returns (created, project representation); `created` is False for an idempotent replay.
    """
    try:
        credit_code = validate_credit_code(principal.credit_code or "")
    except InvalidIdentifier as exc:
        raise ProblemError(
            status=403, title="Forbidden", detail=f"token claim credit_code: {exc.message}"
        ) from None
    digest = _request_hash(body) if idempotency_key else ""
    if idempotency_key:
        replay = await _replay(uow, credit_code, idempotency_key, digest)
        if replay is not None:
            return False, replay

    now = clock.now()
    local_month = now.astimezone(CHINA_TZ).date()
    facts = SubmissionFacts(
        procedure=body.procedure,
        total_investment=body.total_investment,
        land_needs_new_land=body.land.needs_new_land,
        land_area_m2=body.land.area_m2,
        eia_category=body.eia_category,
        annual_energy_tce=body.annual_energy_tce,
        building_area_m2=body.building_area_m2,
        water_withdrawal=body.water_withdrawal,
        uses_forest_land=body.uses_forest_land,
        near_cultural_relics=body.near_cultural_relics,
        hazardous_chemicals=body.hazardous_chemicals,
        in_flood_zone=body.in_flood_zone,
        foreign_investment=body.foreign_investment,
    )
    prefix = code_prefix(local_month, body.region_code, body.industry_code, body.procedure)
    serial = await next_serial(uow.session, prefix)
    code = make_project_code(
        local_month, body.region_code, body.industry_code, body.procedure, serial
    )

    tasks: list[Task] = []
    for position, matter_code in enumerate(route(facts, catalogue)):
        matter = catalogue.matter(matter_code)
        tasks.append(
            Task(
                task_id=str(uuid.uuid4()),
                project_code=code,
                position=position,
                department=matter.department,
                matter_code=matter.code,
                matter_name=matter.name,
                status="pending",
                consultative=matter.consultative,
                day_kind=matter.day_kind,
                legal_limit_days=matter.legal_limit,
                promised_limit_days=matter.promised_limit,
                assigned_at=now,
                due_at=calendar.deadline(now, matter.legal_limit, matter.day_kind),
                promised_due_at=calendar.deadline(now, matter.promised_limit, matter.day_kind),
                reply_due_at=calendar.deadline(now, CONSULTATION_REPLY_DAYS, "working")
                if matter.consultative
                else None,
            )
        )
    transition = sm.submit(
        code,
        [
            sm.TaskState(t.task_id, t.department, t.matter_code, consultative=t.consultative)
            for t in tasks
        ],
    )
    details = body.model_dump(
        mode="json",
        include={
            "land",
            "eia_category",
            "annual_energy_tce",
            "building_area_m2",
            "water_withdrawal",
            "uses_forest_land",
            "near_cultural_relics",
            "hazardous_chemicals",
            "in_flood_zone",
            "foreign_investment",
        },
    )
    project = Project(
        project_code=code,
        credit_code=credit_code,
        name=body.name,
        region_code=body.region_code,
        industry_code=body.industry_code,
        procedure=body.procedure,
        status=transition.project.status.value,
        total_investment=body.total_investment,
        location=body.location,
        planned_start=body.planned_start,
        description=body.description,
        details=details,
        submitted_at=now,
        updated_at=now,
    )
    uow.session.add(project)
    uow.session.add_all(tasks)
    aggregate = Aggregate(project, tasks)
    _emit(uow, aggregate, transition.events, actor=Actor.of(principal), now=now)
    representation = project_data(project, tasks).model_dump(mode="json")
    if idempotency_key:
        uow.session.add(
            IdempotencyRecord(
                owner=credit_code,
                key=idempotency_key,
                request_hash=digest,
                status_code=201,
                response=representation,
                created_at=now,
            )
        )
    try:
        await uow.commit()
    except IntegrityError:
        # A concurrent retry with the same key won the race: answer with its response.
        await uow.rollback()
        if idempotency_key:
            replay = await _replay(uow, credit_code, idempotency_key, digest)
            if replay is not None:
                return False, replay
        raise
    return True, representation


# --- decisions, supplements, withdrawal -----------------------------------------------------


async def _aggregate_of_task(uow: UnitOfWork, task_id: str) -> Aggregate:
    code = await project_code_of_task(uow.session, task_id)
    aggregate = await load_aggregate(uow.session, code, lock=True) if code else None
    if aggregate is None:
        raise TaskNotFound(f"task {task_id} not found", field="task_id")
    return aggregate


def _sync_statuses(aggregate: Aggregate, state: sm.ProjectState, now: datetime) -> None:
    aggregate.project.status = state.status.value
    aggregate.project.updated_at = now
    for task_state in state.tasks:
        aggregate.task(task_state.task_id).status = task_state.status.value


async def _record_decision(
    uow: UnitOfWork,
    task: Task,
    *,
    decision: str,
    opinion: str | None,
    missing: Sequence[str],
    now: datetime,
    deemed: bool = False,
) -> None:
    task.decision = decision
    task.opinion = opinion
    task.decided_at = now
    task.deemed = deemed
    task.missing_materials = list(missing)
    if decision == "supplement_required":
        task.paused_at = now  # the clock stops until the enterprise supplements
    else:
        year = now.astimezone(CHINA_TZ).year
        task.document_number = await next_document_number(uow.session, task.department, year)


async def decide_task(
    *,
    uow: UnitOfWork,
    clock: Clock,
    task_id: str,
    department: str,
    body: DecisionIn,
    actor: Actor,
    causation: CloudEvent | None = None,
    commit: bool = True,
) -> TaskData:
    """A department's decision, by HTTP or by Kafka (same checks, same effects).

    The Kafka consumer passes `commit=False`: it commits a whole batch at once, together
    with the ids of the events it applied.
    """
    aggregate = await _aggregate_of_task(uow, task_id)
    transition = sm.decide(
        aggregate.state(),
        task_id,
        department,
        body.decision,
        body.missing_materials,
        opinion=body.opinion,
    )
    now = clock.now()
    _sync_statuses(aggregate, transition.project, now)
    task = aggregate.task(task_id)
    await _record_decision(
        uow,
        task,
        decision=body.decision,
        opinion=body.opinion,
        missing=body.missing_materials,
        now=now,
    )
    _emit(uow, aggregate, transition.events, actor=actor, now=now, causation=causation)
    if commit:
        await uow.commit()
    return task_data(task)


async def supplement_task(
    *,
    uow: UnitOfWork,
    clock: Clock,
    calendar: WorkCalendar,
    task_id: str,
    principal: Principal,
    materials: Sequence[str],
) -> TaskData:
    aggregate = await _aggregate_of_task(uow, task_id)
    if aggregate.project.credit_code != principal.credit_code:
        raise TaskNotFound(f"task {task_id} not found", field="task_id")
    transition = sm.supplement(aggregate.state(), task_id, materials)
    now = clock.now()
    _sync_statuses(aggregate, transition.project, now)
    task = aggregate.task(task_id)
    if task.paused_at is not None:
        # The waiting time does not count: push every deadline by the days it waited.
        kind: Any = task.day_kind
        paused = calendar.days_between(task.paused_at, now, kind)
        task.paused_days += paused
        task.due_at = calendar.extend(task.due_at, paused, kind)
        task.promised_due_at = calendar.extend(task.promised_due_at, paused, kind)
        if task.reply_due_at is not None:
            task.reply_due_at = calendar.extend(task.reply_due_at, paused, "working")
    task.paused_at = None
    task.decision = None
    task.decided_at = None
    task.missing_materials = []
    _emit(
        uow,
        aggregate,
        transition.events,
        actor=Actor.of(principal),
        now=now,
        detail={"materials": list(materials)},
    )
    await uow.commit()
    return task_data(task)


async def withdraw_project(
    *, uow: UnitOfWork, clock: Clock, code: str, principal: Principal
) -> dict[str, Any]:
    aggregate = await load_aggregate(uow.session, code, lock=True)
    if aggregate is None or aggregate.project.credit_code != principal.credit_code:
        raise not_found(f"project {code}")
    transition = sm.withdraw(aggregate.state())
    now = clock.now()
    _sync_statuses(aggregate, transition.project, now)
    _emit(uow, aggregate, transition.events, actor=Actor.of(principal), now=now)
    await uow.commit()
    result: dict[str, Any] = project_data(aggregate.project, aggregate.tasks).model_dump(
        mode="json"
    )
    return result


async def deem_silent_consultations(*, uow: UnitOfWork, clock: Clock, limit: int = 200) -> int:
    """Consulted departments silent past their reply limit are deemed to consent."""
    now = clock.now()
    due = (
        await uow.session.exec(
            select(Task.task_id)
            .where(Task.status == "pending")
            .where(col(Task.consultative).is_(True))
            .where(col(Task.reply_due_at) <= now)
            .limit(limit)
        )
    ).all()
    for task_id in due:
        aggregate = await _aggregate_of_task(uow, task_id)
        try:
            transition = sm.deem_consent(aggregate.state(), task_id)
        except DomainError:
            continue  # decided or closed meanwhile
        _sync_statuses(aggregate, transition.project, now)
        await _record_decision(
            uow,
            aggregate.task(task_id),
            decision="approved",
            opinion="deemed consent: no reply within the consultation limit",
            missing=(),
            now=now,
            deemed=True,
        )
        _emit(uow, aggregate, transition.events, actor=SYSTEM, now=now)
    await uow.commit()
    return len(due)


# --- events and audit trail -----------------------------------------------------------------


def _emit(
    uow: UnitOfWork,
    aggregate: Aggregate,
    events: Sequence[DomainEvent],
    *,
    actor: Actor,
    now: datetime,
    causation: CloudEvent | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Turn domain events into CloudEvents in the outbox and timeline entries."""
    code = aggregate.project.project_code
    project_json: dict[str, Any] | None = None
    for event in events:
        task = aggregate.task(event.task_id) if isinstance(event, TaskEvent) else None
        # Contract: a project.* event carries the project, a task event the task (a
        # supplement event is about one task but is a project event).
        if task is not None and not event.type.startswith("project."):
            data: dict[str, Any] = task_data(task).model_dump(mode="json")
        else:
            if project_json is None:
                project_json = project_data(aggregate.project, aggregate.tasks).model_dump(
                    mode="json"
                )
            data = project_json
        cloud_event = new_event(
            type=event.type,
            source=APPROVAL_SOURCE,
            subject=code,
            data=data,
            time=now,
            cause=causation,
            correlationid=correlation_id.get(),
        )
        uow.emit(cloud_event, APPROVAL_PROJECTS)
        if task is not None and event.type in TASK_TOPIC_EVENTS:
            uow.emit(cloud_event, tasks_topic(task.department))
        elif task is not None and event.type == "project.supplement_provided":
            # A department system reads only its own topic: tell it the task is pending
            # again (same task id, deadlines moved by the pause) with an assignment event.
            uow.emit(
                cloud_event.caused(
                    type="approval.task.assigned",
                    source=APPROVAL_SOURCE,
                    data=task_data(task).model_dump(mode="json"),
                    time=now,
                ),
                tasks_topic(task.department),
            )
        entry_detail: dict[str, Any] = dict(detail or {})
        if task is not None:
            entry_detail.update(
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
        uow.add_row(
            TimelineEntry,
            {
                "project_code": code,
                "at": now,
                "action": event.type,
                "actor": actor.name,
                "actor_role": actor.role,
                "task_id": task.task_id if task else None,
                "department": task.department if task else None,
                "detail": entry_detail,
                "event_id": cloud_event.id,
            },
        )


__all__ = [
    "SYSTEM",
    "Actor",
    "decide_task",
    "deem_silent_consultations",
    "submit_project",
    "supplement_task",
    "withdraw_project",
]
