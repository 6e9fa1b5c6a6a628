"""Credit handlers on the in-memory unit of work: records from red alerts, the status they add
up to, corrections by ops (audited), and the thresholds file's validation."""

from datetime import timedelta

import pytest
from pydantic import ValidationError

from shared.events import EventType
from supervision_svc import handlers
from supervision_svc.domain.alerts import PROGRESS_MISSING, STARTED_BEFORE_APPROVAL
from supervision_svc.domain.errors import Conflict, NotFound
from supervision_svc.domain.thresholds import DEFAULT_THRESHOLDS as RULES
from supervision_svc.rules_file import RulesFile

from supervision_fakes import CREDIT, T0, FakeStore, FakeUnitOfWork


async def _red(store, kind, project, at=T0, level="red"):
    async with FakeUnitOfWork(store) as uow:
        alert = await handlers.raise_alert(
            uow,
            subject=handlers.AlertSubject(kind=kind, project_code=project, credit_code=CREDIT),
            level=level,
            detail="x",
            now=at,
            rules=RULES,
        )
        await uow.commit()
    return alert


def _status_events(store):
    return [
        (p.event.data["previous_status"], p.event.data["status"])
        for p in store.published
        if p.event.type == EventType.CREDIT_STATUS_CHANGED
    ]


async def test_two_serious_records_make_an_enterprise_dishonest():
    store = FakeStore()
    await _red(store, STARTED_BEFORE_APPROVAL, "P1")
    await _red(store, STARTED_BEFORE_APPROVAL, "P2", at=T0 + timedelta(hours=1))
    assert store.credit.states[CREDIT].status == "dishonest"
    assert _status_events(store) == [("normal", "abnormal"), ("abnormal", "dishonest")]


async def test_an_escalation_to_red_leaves_one_ordinary_record():
    store = FakeStore()
    alert = await _red(store, PROGRESS_MISSING, "P1", level="yellow")
    assert store.credit.records == {}
    async with FakeUnitOfWork(store) as uow:
        await handlers.set_alert_level(
            uow,
            subject=handlers.AlertSubject(
                kind=PROGRESS_MISSING, project_code="P1", credit_code=CREDIT
            ),
            current=alert,
            target="red",
            detail="y",
            now=T0 + timedelta(days=30),
            rules=RULES,
        )
        await uow.commit()
    [record] = store.credit.records.values()
    assert (record.severity, record.alert_id) == ("ordinary", alert.alert_id)
    assert store.credit.states[CREDIT].status == "normal"  # one ordinary record only


async def test_a_serious_record_uncorrected_for_90_days_makes_dishonest_by_time():
    store = FakeStore()
    await _red(store, STARTED_BEFORE_APPROVAL, "P1")
    state = store.credit.states[CREDIT]
    assert state.next_check_at == T0 + timedelta(days=90)
    checked = await handlers.sweep_credit(
        uow_factory=lambda: FakeUnitOfWork(store), now=T0 + timedelta(days=90), rules=RULES
    )
    assert checked == 1
    assert store.credit.states[CREDIT].status == "dishonest"


async def test_a_correction_is_audited_and_the_status_recomputed():
    store = FakeStore()
    await _red(store, STARTED_BEFORE_APPROVAL, "P1")
    [record] = store.credit.records.values()
    async with FakeUnitOfWork(store) as uow:
        await handlers.correct_record(
            uow,
            credit_code=CREDIT,
            record_id=record.record_id,
            reason="rectified on site",
            actor="ops-1",
            now=T0 + timedelta(days=1),
            rules=RULES,
        )
        await uow.commit()
    assert store.credit.states[CREDIT].status == "normal"
    [audit] = store.credit.audits
    assert (audit.actor, audit.reason, audit.record_id) == (
        "ops-1",
        "rectified on site",
        record.record_id,
    )
    assert _status_events(store)[-1] == ("abnormal", "normal")
    async with FakeUnitOfWork(store) as uow:
        with pytest.raises(Conflict):
            await handlers.correct_record(
                uow,
                credit_code=CREDIT,
                record_id=record.record_id,
                reason="again",
                actor="ops-1",
                now=T0,
                rules=RULES,
            )
        with pytest.raises(NotFound):
            await handlers.correct_record(
                uow,
                credit_code="OTHER",
                record_id=record.record_id,
                reason="r",
                actor="ops-1",
                now=T0,
                rules=RULES,
            )


VALID = {
    "version": 1,
    "approval_overdue": {"yellow_ratio": 0.9},
    "start_overdue": {"grace_days": 30, "red_after_days": 90},
    "progress_missing": {"yellow_days": 30, "red_days": 60},
    "progress_behind": {"yellow_points": 10, "red_points": 30},
    "credit": {
        "abnormal_ordinary_records": 2,
        "ordinary_window_days": 365,
        "abnormal_serious_records": 1,
        "dishonest_serious_records": 2,
        "dishonest_serious_uncorrected_days": 90,
    },
}


def test_the_thresholds_file_maps_onto_the_defaults():
    assert RulesFile.model_validate(VALID).thresholds() == RULES


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [
        ("approval_overdue", "yellow_ratio", 1.5),
        ("progress_missing", "red_days", 10),  # before the yellow
        ("progress_behind", "red_points", 5),
        ("credit", "ordinary_window_days", 0),
        ("start_overdue", "typo", 1),
    ],
)
def test_a_bad_thresholds_file_is_refused(section, field, value):
    bad = {**VALID, section: {**VALID[section], field: value}}
    with pytest.raises(ValidationError, match=section):
        RulesFile.model_validate(bad)
