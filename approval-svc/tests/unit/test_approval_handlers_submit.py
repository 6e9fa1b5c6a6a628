"""Submission against an in-memory unit of work: routing, serials, idempotency, conflicts."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fakes import FakeUnitOfWork, Store

from approval_svc import handlers
from approval_svc.domain import errors
from approval_svc.domain.commands import IdempotencyKey
from approval_svc.domain.identifiers import parse_project_code
from approval_svc.unit_of_work import CommitConflict
from shared.events import EventType

from approval_world import CREDIT, ENTERPRISE, MONDAY, OTHER_CREDIT, World, submission, task_of


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
