"""Joint punishment against the in-memory unit of work: the credit rule, the view kept from
supervision's events, and what a submission gets in each status (no database, no broker)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fakes import Store

from approval_svc import handlers
from approval_svc.domain import errors
from approval_svc.domain.commands import IdempotencyKey
from approval_svc.domain.credit import (
    CreditFlag,
    CreditStanding,
    CreditStatus,
    admit,
    newest,
)
from shared.events import EventType

from approval_world import CREDIT, MONDAY, OTHER_CREDIT, World, submission

LATER = MONDAY + timedelta(days=1)


def standing(status: str, at: object = MONDAY, credit: str = CREDIT) -> CreditStanding:
    return CreditStanding(credit, CreditStatus(status), at)  # type: ignore[arg-type]


# --- the rule --------------------------------------------------------------------------------


def test_dishonest_is_refused_naming_the_public_list() -> None:
    with pytest.raises(errors.DishonestEnterprise) as refused:
        admit(CREDIT, standing("dishonest"))
    assert "dishonest list" in refused.value.message
    assert CREDIT in refused.value.message
    assert isinstance(refused.value, errors.Forbidden)


@pytest.mark.parametrize(
    ("status", "flag"),
    [(None, None), ("normal", None), ("abnormal", CreditFlag.ABNORMAL)],
)
def test_abnormal_is_flagged_and_normal_or_unknown_is_not(
    status: str | None, flag: CreditFlag | None
) -> None:
    assert admit(CREDIT, standing(status) if status else None) is flag


def test_the_newest_change_wins_whatever_the_arrival_order() -> None:
    early, late = standing("dishonest", MONDAY), standing("normal", LATER)
    assert newest(None, early) == early
    assert newest(early, late) == late
    assert newest(late, early) is None  # an older change arriving late changes nothing
    assert newest(late, late) is None  # nor does the same change twice


# --- the use cases ---------------------------------------------------------------------------


async def record(world: World, status: str, at: object = MONDAY, credit: str = CREDIT) -> bool:
    return await handlers.record_credit_status(
        standing=standing(status, at, credit), uow=world.uow(), clock=world.clock
    )


async def test_a_dishonest_enterprise_is_refused_and_nothing_is_stored() -> None:
    world = World()
    assert await record(world, "dishonest")
    before = Store(credit=dict(world.store.credit))
    key = IdempotencyKey("retry-1", "fingerprint")
    with pytest.raises(errors.DishonestEnterprise):
        await world.submit(submission(key=key))
    assert world.store.projects == before.projects == {}
    assert world.store.published == []
    assert world.store.audit == []
    assert world.store.idempotency == {}  # the key is not consumed either
    assert world.store.serials == {}  # no code was spent on it


async def test_another_enterprise_is_accepted_while_one_is_dishonest() -> None:
    world = World()
    await record(world, "dishonest")
    submitted = await world.submit(submission(credit=OTHER_CREDIT))
    assert submitted.created
    assert submitted.project["credit_flag"] is None


async def test_an_abnormal_enterprise_is_accepted_with_the_flag_on_project_tasks_and_events() -> (
    None
):
    world = World()
    await record(world, "abnormal")
    submitted = await world.submit()
    project = submitted.project
    assert project["credit_flag"] == "abnormal"
    assert project["tasks"]
    assert all(t["credit_flag"] == "abnormal" for t in project["tasks"])
    events = [m.event for m in world.store.published]
    assigned = [e for e in events if e.type == EventType.TASK_ASSIGNED]
    submitted_events = [e for e in events if e.type == EventType.PROJECT_SUBMITTED]
    assert assigned
    assert all(e.data["credit_flag"] == "abnormal" for e in assigned)
    assert submitted_events
    assert submitted_events[0].data["credit_flag"] == "abnormal"
    assert all(t["credit_flag"] == "abnormal" for t in submitted_events[0].data["tasks"])
    # A decision on a flagged task still shows the flag.
    task = project["tasks"][0]
    decided = await world.decide(task, "approved")
    assert decided.credit_flag == "abnormal"


async def test_a_normal_status_after_dishonest_lets_the_enterprise_submit_again() -> None:
    world = World()
    await record(world, "dishonest", MONDAY)
    assert await record(world, "normal", LATER)
    submitted = await world.submit()
    assert submitted.created
    assert submitted.project["credit_flag"] is None


async def test_a_late_older_change_does_not_overwrite_a_newer_one() -> None:
    world = World()
    assert await record(world, "normal", LATER)
    assert not await record(world, "dishonest", MONDAY)
    assert world.store.credit[CREDIT].status is CreditStatus.NORMAL
    assert (await world.submit()).created


async def test_a_replayed_key_answers_its_first_response_even_if_now_dishonest() -> None:
    world = World()
    key = IdempotencyKey("k", "fingerprint")
    first = await world.submit(submission(key=key))
    await record(world, "dishonest", LATER)
    again = await world.submit(submission(key=key))
    assert not again.created
    assert again.project == first.project
    with pytest.raises(errors.DishonestEnterprise):
        await world.submit(submission(key=IdempotencyKey("new", "fingerprint")))
