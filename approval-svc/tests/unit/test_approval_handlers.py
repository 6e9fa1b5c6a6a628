"""The use cases against an in-memory unit of work: the rules without a database or broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fakes import FakeUnitOfWork, Store

from approval_svc import handlers
from approval_svc.domain import errors
from approval_svc.domain.catalogue import Catalogue, parse_catalogue
from approval_svc.domain.commands import (
    SYSTEM,
    Actor,
    DecideTask,
    IdempotencyKey,
    ProvideSupplement,
    SubmitProject,
    WithdrawProject,
)
from approval_svc.domain.deadlines import CONSULTATION_REPLY_DAYS
from approval_svc.domain.facts import SubmissionFacts
from approval_svc.domain.identifiers import parse_project_code
from approval_svc.domain.project import DEEMED_CONSENT_OPINION
from approval_svc.domain.workdays import WorkCalendar
from approval_svc.unit_of_work import CommitConflict
from shared.clock import ManualClock
from shared.events import EventType, new_event

CREDIT = "91440300708461136T"
OTHER_CREDIT = "91110108551385082X"
ENTERPRISE = Actor("test-enterprise", "enterprise")
MONDAY = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Beijing, an ordinary working Monday


def catalogue(*, consultative: bool = False) -> Catalogue:
    matter = {"legal_limit": 20, "promised_limit": 15, "day_kind": "working"}
    return parse_catalogue(
        {
            "version": 1,
            "departments": [
                {"code": c, "name": f"{c} name", "name_zh": c} for c in ("NDRC", "MEE", "MOHURD")
            ],
            "matters": [
                {"code": "NDRC-VERIFY", "department": "NDRC", "name": "Verify", "name_zh": "v"}
                | matter,
                {"code": "MEE-EIA-REPORT", "department": "MEE", "name": "EIA", "name_zh": "e",
                 "legal_limit": 60, "promised_limit": 30, "day_kind": "calendar"},
                {"code": "MOHURD-BUILD-PERMIT", "department": "MOHURD", "name": "Permit",
                 "name_zh": "p", "consultative": consultative} | matter,
            ],
            "routing": [
                {"id": "v", "when": [{"field": "procedure", "op": "eq", "value": "verification"}],
                 "matters": ["NDRC-VERIFY"]},
                {"id": "e", "when": [{"field": "eia_category", "op": "eq", "value": "report"}],
                 "matters": ["MEE-EIA-REPORT"]},
                {"id": "b", "when": [{"field": "building_area_m2", "op": "gt", "value": 0}],
                 "matters": ["MOHURD-BUILD-PERMIT"]},
            ],
        },
        source="test",
    )  # fmt: skip


def submission(*, procedure: str = "verification", eia: str = "report", building: int | None = 100,
               key: IdempotencyKey | None = None, credit: str = CREDIT) -> SubmitProject:  # fmt: skip
    facts = SubmissionFacts(
        procedure=procedure,  # type: ignore[arg-type]
        total_investment=Decimal("250000000.00"),
        eia_category=eia,  # type: ignore[arg-type]
        building_area_m2=Decimal(building) if building is not None else None,
    )
    return SubmitProject(
        credit_code=credit,
        name="Riverside logistics park",
        region_code="440300",
        industry_code="G5411",
        procedure=procedure,
        total_investment=Decimal("250000000.00"),
        location="Shenzhen",
        planned_start=None,
        description="",
        facts=facts,
        details={"eia_category": eia, "building_area_m2": building},
        actor=ENTERPRISE,
        idempotency=key,
    )


class World:
    """One service instance: its committed store, clock, catalogue and calendar."""

    def __init__(self, *, consultative: bool = False) -> None:
        self.store = Store()
        self.clock = ManualClock(MONDAY)
        self.catalogue = catalogue(consultative=consultative)
        self.calendar = WorkCalendar()
        self.last_uow: FakeUnitOfWork | None = None

    def uow(self) -> FakeUnitOfWork:
        self.last_uow = FakeUnitOfWork(self.store)
        return self.last_uow

    async def submit(self, command: SubmitProject | None = None) -> handlers.Submitted:
        return await handlers.submit_project(
            command=command or submission(),
            uow=self.uow(),
            catalogue=self.catalogue,
            calendar=self.calendar,
            clock=self.clock,
        )

    async def decide(self, task: dict[str, Any], decision: str, *, department: str | None = None,
                     missing: tuple[str, ...] = (), causation: Any = None) -> Any:  # fmt: skip
        dept = department or task["department"]
        return await handlers.decide_task(
            command=DecideTask(
                task_id=task["task_id"],
                department=dept,
                decision=decision,
                opinion=f"{dept} says {decision}",
                missing_materials=missing,
                actor=Actor(f"test-{dept}", "department"),
                causation=causation,
            ),
            uow=self.uow(),
            clock=self.clock,
        )

    def project(self, code: str) -> Any:
        return self.store.projects[code]

    def published(self, code: str) -> list[tuple[str, str]]:
        return [(m.topic, m.event.type) for m in self.store.published if m.event.subject == code]


def task_of(project: dict[str, Any], department: str) -> dict[str, Any]:
    return next(t for t in project["tasks"] if t["department"] == department)


# --- submission -------------------------------------------------------------------------------


async def test_submit_assigns_a_code_and_every_routed_task_at_once() -> None:
    world = World()
    submitted = await world.submit()

    project = submitted.project
    assert submitted.created
    code = parse_project_code(project["project_code"])
    assert (code.region, code.procedure, code.serial) == ("440300", "verification", 1)
    assert project["status"] == "in_review"
    assert [t["department"] for t in project["tasks"]] == ["NDRC", "MEE", "MOHURD"]
    mee = task_of(project, "MEE")
    due = world.calendar.deadline(MONDAY, 60, "calendar")
    assert datetime.fromisoformat(mee["due_at"]) == due
    assert datetime.fromisoformat(mee["promised_due_at"]) == due - timedelta(days=30)
    assert world.last_uow is not None
    assert world.last_uow.commits == 1
    assert world.published(project["project_code"]) == [
        ("approval.projects", EventType.PROJECT_SUBMITTED),
        *[
            pair
            for dept in ("NDRC", "MEE", "MOHURD")
            for pair in (
                ("approval.projects", EventType.TASK_ASSIGNED),
                (f"approval.tasks.{dept}", EventType.TASK_ASSIGNED),
            )
        ],
    ]
    assert [e.action for e in world.store.audit] == [EventType.PROJECT_SUBMITTED] + [
        EventType.TASK_ASSIGNED
    ] * 3
    assert {e.actor for e in world.store.audit} == {ENTERPRISE}


async def test_a_second_submission_takes_the_next_serial() -> None:
    world = World()
    first = await world.submit()
    second = await world.submit()
    serials = [parse_project_code(s.project["project_code"]).serial for s in (first, second)]
    assert serials == [1, 2]


async def test_a_filing_with_nothing_to_approve_is_filed_at_once() -> None:
    world = World()
    submitted = await world.submit(submission(procedure="filing", eia="none", building=None))

    assert submitted.project["status"] == "filed"
    assert submitted.project["tasks"] == []
    assert world.published(submitted.project["project_code"]) == [
        ("approval.projects", EventType.PROJECT_SUBMITTED),
        ("approval.projects", EventType.PROJECT_FILED),
    ]


async def test_an_idempotency_key_answers_a_retry_with_the_first_response() -> None:
    world = World()
    key = IdempotencyKey("order-42", "fingerprint-1")
    first = await world.submit(submission(key=key))
    again = await world.submit(submission(key=key))

    assert (first.created, again.created) == (True, False)
    assert again.project == first.project
    assert len(world.store.projects) == 1
    assert world.last_uow is not None
    assert world.last_uow.commits == 0
    with pytest.raises(errors.IdempotencyKeyReused):
        await world.submit(submission(key=IdempotencyKey("order-42", "another-body")))
    # Another enterprise's identical key is its own.
    other = await world.submit(submission(key=key, credit=OTHER_CREDIT))
    assert other.created
    assert len(world.store.projects) == 2


async def test_a_concurrent_retry_that_commits_first_is_answered_with_its_response() -> None:
    world = World()
    key = IdempotencyKey("burst-1", "fingerprint-1")
    winner = {"project_code": "the winner's"}
    uow = FakeUnitOfWork(world.store)
    uow.before_commit = lambda store: store.idempotency.update(
        {(CREDIT, key.key): (key.fingerprint, winner)}
    )

    submitted = await handlers.submit_project(
        command=submission(key=key),
        uow=uow,
        catalogue=world.catalogue,
        calendar=world.calendar,
        clock=world.clock,
    )

    assert (submitted.created, submitted.project) == (False, winner)
    assert uow.rollbacks == 1
    assert world.store.projects == {}  # the loser created nothing


async def test_a_commit_conflict_without_a_key_is_not_swallowed() -> None:
    world = World()
    uow = FakeUnitOfWork(world.store)

    def conflict(_: Store) -> None:
        raise CommitConflict("another writer")

    uow.before_commit = conflict
    with pytest.raises(CommitConflict):
        await handlers.submit_project(
            command=submission(),
            uow=uow,
            catalogue=world.catalogue,
            calendar=world.calendar,
            clock=world.clock,
        )


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
