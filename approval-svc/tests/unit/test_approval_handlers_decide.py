"""Decisions, supplements, withdrawal and deemed consent against an in-memory unit of work."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from approval_svc import handlers
from approval_svc.domain import errors
from approval_svc.domain.commands import SYSTEM, ProvideSupplement, WithdrawProject
from approval_svc.domain.deadlines import CONSULTATION_REPLY_DAYS
from approval_svc.domain.project import DEEMED_CONSENT_OPINION
from shared.events import EventType, new_event

from approval_world import CREDIT, ENTERPRISE, MONDAY, OTHER_CREDIT, World, task_of

# --- decisions --------------------------------------------------------------------------------


async def test_every_approval_approves_the_project_with_numbered_documents() -> None:
    world = World()
    project = (await world.submit()).project
    code = project["project_code"]
    world.clock.advance(timedelta(hours=1))

    decided = [await world.decide(t, "approved") for t in project["tasks"]]

    assert [t.status for t in decided] == ["approved"] * 3
    assert [t.document_number for t in decided] == [
        "NDRC-2026-000001",
        "MEE-2026-000001",
        "MOHURD-2026-000001",
    ]
    assert all(t.decided_at == world.clock.now() for t in decided)
    assert world.project(code).status == "approved"
    types = [t for _, t in world.published(code)]
    assert types.count(EventType.DECISION_RECORDED) == 3
    assert types.count(EventType.PROJECT_APPROVED) == 1
    assert types[-1] == EventType.PROJECT_APPROVED
    recorded = [e for e in world.store.audit if e.action == EventType.DECISION_RECORDED]
    assert recorded[0].detail == {
        "matter_code": "NDRC-VERIFY",
        "decision": "approved",
        "opinion": "NDRC says approved",
    }


async def test_a_rejection_rejects_the_project_and_withdraws_the_other_tasks() -> None:
    world = World()
    project = (await world.submit()).project
    code = project["project_code"]

    rejected = await world.decide(task_of(project, "NDRC"), "rejected")

    assert rejected.status == "rejected"
    assert rejected.document_number == "NDRC-2026-000001"
    stored = world.project(code)
    assert stored.status == "rejected"
    assert [t.status for t in stored.tasks] == ["rejected", "withdrawn", "withdrawn"]
    assert [t.document_number for t in stored.tasks] == ["NDRC-2026-000001", None, None]
    withdrawn_topics = [
        topic for topic, t in world.published(code) if t == EventType.TASK_WITHDRAWN
    ]
    assert sorted(withdrawn_topics) == sorted(
        ["approval.projects", "approval.tasks.MEE", "approval.projects", "approval.tasks.MOHURD"]
    )
    reasons = {
        e.detail.get("reason") for e in world.store.audit if e.action == EventType.TASK_WITHDRAWN
    }
    assert reasons == {"project_rejected"}


async def test_a_supplement_notice_stops_the_clock_and_numbers_nothing() -> None:
    world = World()
    project = (await world.submit()).project
    mee = task_of(project, "MEE")

    notice = await world.decide(mee, "supplement_required", missing=("noise study", "site plan"))

    assert notice.status == "supplement_required"
    assert notice.missing_materials == ["noise study", "site plan"]
    assert notice.document_number is None
    stored = world.project(project["project_code"])
    assert stored.status == "supplement_required"
    assert stored.task(mee["task_id"]).limits.paused_at == world.clock.now()
    assert (
        "approval.projects",
        EventType.PROJECT_SUPPLEMENT_REQUESTED,
    ) in world.published(project["project_code"])


async def test_refused_decisions_change_nothing() -> None:
    world = World()
    project = (await world.submit()).project
    mee = task_of(project, "MEE")
    before = world.project(project["project_code"])
    published = len(world.store.published)

    with pytest.raises(errors.MissingMaterialsRequired):
        await world.decide(mee, "supplement_required")
    with pytest.raises(errors.WrongDepartment):
        await world.decide(mee, "approved", department="NDRC")
    with pytest.raises(errors.TaskNotFound):
        await world.decide({**mee, "task_id": "no-such-task"}, "approved")
    await world.decide(mee, "approved")
    with pytest.raises(errors.TaskNotPending):
        await world.decide(mee, "rejected")

    assert world.project(project["project_code"]).task(mee["task_id"]).status == "approved"
    assert before.task(mee["task_id"]).status == "pending"
    # Only the one accepted decision was published (approval.decision.recorded).
    assert len(world.store.published) == published + 1


async def test_a_decision_from_an_event_carries_its_correlation_and_causation() -> None:
    world = World()
    project = (await world.submit()).project
    ndrc = task_of(project, "NDRC")
    incoming = new_event(
        type=EventType.DECISION_SUBMITTED,
        source="/departments/NDRC",
        subject=project["project_code"],
        data={},
        correlationid="corr-1",
    )

    await world.decide(ndrc, "approved", causation=incoming)

    recorded = world.store.published[-1].event
    assert recorded.type == EventType.DECISION_RECORDED
    assert (recorded.correlationid, recorded.causationid) == ("corr-1", incoming.id)


# --- supplement, withdrawal -------------------------------------------------------------------


async def test_a_supplement_resumes_the_task_and_gives_back_the_days_it_waited() -> None:
    world = World()
    project = (await world.submit()).project
    ndrc = task_of(project, "NDRC")  # 20 working days
    await world.decide(ndrc, "supplement_required", missing=("policy statement",))
    paused_at = world.clock.now()
    world.clock.advance(timedelta(days=2))  # Monday -> Wednesday: two working days waited

    resumed = await handlers.provide_supplement(
        command=ProvideSupplement(
            task_id=ndrc["task_id"], credit_code=CREDIT, materials=("policy statement",),
            actor=ENTERPRISE,
        ),
        uow=world.uow(),
        clock=world.clock,
        calendar=world.calendar,
    )  # fmt: skip

    assert resumed.status == "pending"
    assert (
        resumed.paused_days
        == world.calendar.days_between(paused_at, world.clock.now(), "working")
        == 2
    )
    assert resumed.due_at == world.calendar.extend(
        datetime.fromisoformat(ndrc["due_at"]), 2, "working"
    )
    assert (resumed.decision, resumed.decided_at, resumed.missing_materials) == (None, None, [])
    code = project["project_code"]
    assert world.project(code).status == "in_review"
    # The department's own topic hears that the task is pending again.
    reassigned = [m.event for m in world.store.published[-2:] if m.topic == "approval.tasks.NDRC"]
    assert [e.type for e in reassigned] == [EventType.TASK_ASSIGNED]
    assert datetime.fromisoformat(reassigned[0].data["due_at"]) == resumed.due_at
    provided = world.store.published[-2].event
    assert provided.type == EventType.PROJECT_SUPPLEMENT_PROVIDED
    assert reassigned[0].causationid == provided.id
    assert world.store.audit[-1].detail["materials"] == ["policy statement"]


async def test_only_the_owner_may_supplement_and_only_once() -> None:
    world = World()
    project = (await world.submit()).project
    mee = task_of(project, "MEE")
    await world.decide(mee, "supplement_required", missing=("noise study",))

    def supplement(credit: str) -> Any:
        return handlers.provide_supplement(
            command=ProvideSupplement(
                task_id=mee["task_id"], credit_code=credit, materials=("x",), actor=ENTERPRISE
            ),
            uow=world.uow(),
            clock=world.clock,
            calendar=world.calendar,
        )

    with pytest.raises(errors.TaskNotFound):
        await supplement(OTHER_CREDIT)
    await supplement(CREDIT)
    with pytest.raises(errors.TaskNotAwaitingSupplement):
        await supplement(CREDIT)


async def test_withdrawal_withdraws_the_open_tasks_once_and_only_for_the_owner() -> None:
    world = World()
    project = (await world.submit()).project
    code = project["project_code"]

    def withdraw(credit: str) -> Any:
        return handlers.withdraw_project(
            command=WithdrawProject(project_code=code, credit_code=credit, actor=ENTERPRISE),
            uow=world.uow(),
            clock=world.clock,
        )

    with pytest.raises(errors.ProjectNotFound):
        await withdraw(OTHER_CREDIT)
    withdrawn = await withdraw(CREDIT)
    assert withdrawn.status == "withdrawn"
    assert {t.status for t in withdrawn.tasks} == {"withdrawn"}
    assert world.published(code)[-1] == ("approval.projects", EventType.PROJECT_WITHDRAWN)
    with pytest.raises(errors.ProjectClosed):
        await withdraw(CREDIT)


# --- deemed consent ---------------------------------------------------------------------------


async def test_silence_past_the_reply_limit_is_deemed_consent() -> None:
    world = World(consultative=True)
    project = (await world.submit()).project
    code = project["project_code"]
    mohurd = task_of(project, "MOHURD")
    assert mohurd["status"] == "pending"
    reply_due = world.project(code).task(mohurd["task_id"]).limits.reply_due_at
    assert reply_due == world.calendar.deadline(MONDAY, CONSULTATION_REPLY_DAYS, "working")

    async def sweep() -> int:
        return await handlers.deem_silent_consultations(uow=world.uow(), clock=world.clock)

    world.clock.advance(timedelta(days=6))  # four working days: not yet
    assert await sweep() == 0
    assert world.project(code).task(mohurd["task_id"]).status == "pending"

    world.clock.advance(timedelta(days=4))  # past seven working days of silence
    assert await sweep() == 1
    deemed = world.project(code).task(mohurd["task_id"])
    assert (deemed.status, deemed.deemed, deemed.decision) == ("approved", True, "approved")
    assert deemed.document_number == "MOHURD-2026-000001"
    assert deemed.opinion == DEEMED_CONSENT_OPINION
    entry = world.store.audit[-1]
    assert (entry.actor, entry.action, entry.detail.get("deemed")) == (
        SYSTEM,
        EventType.DECISION_RECORDED,
        True,
    )
    assert await sweep() == 0  # decided: never deemed twice


async def test_a_consultation_decided_in_time_is_not_deemed() -> None:
    world = World(consultative=True)
    project = (await world.submit()).project
    await world.decide(task_of(project, "MOHURD"), "rejected")
    world.clock.advance(timedelta(days=30))

    assert await handlers.deem_silent_consultations(uow=world.uow(), clock=world.clock) == 0
