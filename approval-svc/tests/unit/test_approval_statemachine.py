"""The project + tasks state machine, command by command."""

from __future__ import annotations

import pytest

from approval_svc.api import domain_problem
from approval_svc.domain import errors
from approval_svc.domain.events import (
    EVENT_TYPES,
    DecisionRecorded,
    ProjectRejected,
    SupplementRequested,
    TaskWithdrawn,
)
from approval_svc.domain.statemachine import (
    ProjectState,
    ProjectStatus,
    TaskState,
    TaskStatus,
    decide,
    deem_consent,
    derive_status,
    submit,
    supplement,
    withdraw,
)

CODE = "2601-110105-44-02-000017"


def tasks(*specs: tuple[str, str], consultative: str | None = None) -> list[TaskState]:
    return [
        TaskState(tid, dept, f"{dept}-M", consultative=tid == consultative) for tid, dept in specs
    ]


def in_review(consultative: str | None = None) -> ProjectState:
    return submit(
        CODE, tasks(("t1", "MNR"), ("t2", "MEE"), ("t3", "MWR"), consultative=consultative)
    ).project


def types(events) -> list[str]:
    return [e.type for e in events]


# --- submit -----------------------------------------------------------------------------------


def test_submit_without_tasks_files_the_project():
    t = submit(CODE, [])
    assert t.project.status is ProjectStatus.FILED
    assert types(t.events) == ["project.submitted", "project.filed"]


def test_submit_with_tasks_assigns_each():
    t = submit(CODE, tasks(("t1", "MNR"), ("t2", "MEE")))
    assert t.project.status is ProjectStatus.IN_REVIEW
    assert types(t.events) == [
        "project.submitted",
        "approval.task.assigned",
        "approval.task.assigned",
    ]
    assert [e.department for e in t.events[1:]] == ["MNR", "MEE"]
    assert all(task.status is TaskStatus.PENDING for task in t.project.tasks)


def test_submit_refuses_duplicate_ids_and_non_pending_tasks():
    with pytest.raises(errors.DuplicateTask):
        submit(CODE, tasks(("t1", "MNR"), ("t1", "MEE")))
    with pytest.raises(errors.InvalidCommand):
        submit(CODE, [TaskState("t1", "MNR", "M", status=TaskStatus.APPROVED)])


def test_states_accept_plain_strings_from_storage():
    p = ProjectState(CODE, "in_review", [TaskState("t1", "MNR", "M", status="pending")])  # type: ignore[arg-type]
    assert p.status is ProjectStatus.IN_REVIEW
    assert p.tasks[0].status is TaskStatus.PENDING
    with pytest.raises(ValueError, match="lost"):
        TaskState("t1", "MNR", "M", status="lost")  # type: ignore[arg-type]


# --- decide -----------------------------------------------------------------------------------


def test_all_approved_approves_the_project_once():
    p = in_review()
    t1 = decide(p, "t1", "MNR", "approved")
    assert t1.project.status is ProjectStatus.IN_REVIEW
    assert types(t1.events) == ["approval.decision.recorded"]
    t2 = decide(t1.project, "t2", "MEE", "approved", opinion="ok")
    t3 = decide(t2.project, "t3", "MWR", "approved")
    assert t3.project.status is ProjectStatus.APPROVED
    assert types(t3.events) == ["approval.decision.recorded", "project.approved"]
    assert t2.events[0].opinion == "ok"  # type: ignore[attr-defined]


def test_rejection_withdraws_every_other_open_task():
    p = decide(in_review(), "t1", "MNR", "approved").project
    p = decide(p, "t3", "MWR", "supplement_required", ["site plan"]).project
    t = decide(p, "t2", "MEE", "rejected")
    assert t.project.status is ProjectStatus.REJECTED
    assert [x.status for x in t.project.tasks] == [
        TaskStatus.APPROVED,
        TaskStatus.REJECTED,
        TaskStatus.WITHDRAWN,
    ]
    assert types(t.events) == [
        "approval.decision.recorded",
        "approval.task.withdrawn",
        "project.rejected",
    ]
    withdrawn = t.events[1]
    assert isinstance(withdrawn, TaskWithdrawn)
    assert (withdrawn.task_id, withdrawn.department, withdrawn.reason) == (
        "t3",
        "MWR",
        "project_rejected",
    )
    assert isinstance(t.events[2], ProjectRejected)
    assert t.events[2].rejected_by == "t2"


def test_supplement_required_pauses_project_and_lists_materials():
    t = decide(in_review(), "t2", "MEE", "supplement_required", [" EIA report ", "map", "map"])
    assert t.project.status is ProjectStatus.SUPPLEMENT_REQUIRED
    task = t.project.task("t2")
    assert task.status is TaskStatus.SUPPLEMENT_REQUIRED
    assert task.missing_materials == ("EIA report", "map")
    assert types(t.events) == ["approval.decision.recorded", "project.supplement_requested"]
    assert isinstance(t.events[1], SupplementRequested)
    assert t.events[1].missing_materials == ("EIA report", "map")


def test_other_departments_keep_deciding_during_a_supplement():
    p = decide(in_review(), "t2", "MEE", "supplement_required", ["map"]).project
    p = decide(p, "t1", "MNR", "approved").project
    p = decide(p, "t3", "MWR", "approved").project
    assert p.status is ProjectStatus.SUPPLEMENT_REQUIRED  # still waiting for t2
    p = supplement(p, "t2", ["map"]).project
    assert p.status is ProjectStatus.IN_REVIEW
    t = decide(p, "t2", "MEE", "approved")
    assert t.project.status is ProjectStatus.APPROVED
    assert types(t.events)[-1] == "project.approved"


def test_decide_error_order():
    p = in_review()
    closed = withdraw(p).project
    # Unknown task first, even on a closed project.
    with pytest.raises(errors.TaskNotFound):
        decide(closed, "t9", "MNR", "approved")
    # Another department's task is "not found" too, before revealing the project is closed.
    with pytest.raises(errors.WrongDepartment) as exc:
        decide(closed, "t1", "MEE", "approved")
    assert isinstance(exc.value, errors.NotFound)
    with pytest.raises(errors.ProjectClosed):
        decide(closed, "t1", "MNR", "not-a-decision")
    done = decide(p, "t1", "MNR", "approved").project
    with pytest.raises(errors.TaskNotPending):
        decide(done, "t1", "MNR", "supplement_required", [])
    with pytest.raises(errors.InvalidDecision):
        decide(p, "t1", "MNR", "maybe")
    with pytest.raises(errors.MissingMaterialsRequired) as exc2:
        decide(p, "t1", "MNR", "supplement_required", [])
    assert exc2.value.field == "missing_materials"


@pytest.mark.parametrize("materials", [[], ["  "], ["ok", ""], "a string"])
def test_supplement_notice_needs_a_real_list(materials):
    with pytest.raises(errors.MissingMaterialsRequired):
        decide(in_review(), "t1", "MNR", "supplement_required", materials)


def test_materials_are_ignored_for_final_decisions():
    t = decide(in_review(), "t1", "MNR", "approved", ["irrelevant"])
    assert isinstance(t.events[0], DecisionRecorded)
    assert t.events[0].missing_materials == ()


def test_repeated_decision_is_a_conflict_and_changes_nothing():
    p = decide(in_review(), "t1", "MNR", "approved").project
    with pytest.raises(errors.TaskNotPending):
        decide(p, "t1", "MNR", "approved")


# --- supplement -------------------------------------------------------------------------------


def test_supplement_errors():
    p = in_review()
    with pytest.raises(errors.TaskNotFound):
        supplement(p, "nope", ["x"])
    with pytest.raises(errors.TaskNotAwaitingSupplement):
        supplement(p, "t1", ["x"])
    waiting = decide(p, "t1", "MNR", "supplement_required", ["x"]).project
    with pytest.raises(errors.MaterialsRequired):
        supplement(waiting, "t1", [])
    with pytest.raises(errors.ProjectClosed):
        supplement(withdraw(waiting).project, "t1", ["x"])


def test_supplement_back_to_pending_and_in_review_only_when_none_waits():
    p = in_review()
    p = decide(p, "t1", "MNR", "supplement_required", ["a"]).project
    p = decide(p, "t2", "MEE", "supplement_required", ["b"]).project
    t = supplement(p, "t1", ["a"])
    assert t.project.task("t1").status is TaskStatus.PENDING
    assert t.project.task("t1").missing_materials == ()
    assert t.project.status is ProjectStatus.SUPPLEMENT_REQUIRED
    assert types(t.events) == ["project.supplement_provided"]
    assert supplement(t.project, "t2", ["b"]).project.status is ProjectStatus.IN_REVIEW


# --- withdraw ---------------------------------------------------------------------------------


def test_withdraw_withdraws_open_tasks_only():
    p = decide(in_review(), "t1", "MNR", "approved").project
    p = decide(p, "t2", "MEE", "supplement_required", ["x"]).project
    t = withdraw(p)
    assert t.project.status is ProjectStatus.WITHDRAWN
    assert [x.status for x in t.project.tasks] == [
        TaskStatus.APPROVED,
        TaskStatus.WITHDRAWN,
        TaskStatus.WITHDRAWN,
    ]
    assert types(t.events) == [
        "approval.task.withdrawn",
        "approval.task.withdrawn",
        "project.withdrawn",
    ]


def test_withdraw_submitted_project():
    p = ProjectState(CODE, ProjectStatus.SUBMITTED, tasks(("t1", "MNR")))
    assert withdraw(p).project.status is ProjectStatus.WITHDRAWN


@pytest.mark.parametrize("status", ["approved", "rejected", "filed", "withdrawn"])
def test_withdraw_closed_project_is_a_conflict(status):
    p = ProjectState(CODE, status, ())  # type: ignore[arg-type]
    with pytest.raises(errors.ProjectClosed):
        withdraw(p)


# --- deemed consent ---------------------------------------------------------------------------


def test_deemed_consent_on_a_consultative_task():
    p = decide(in_review(consultative="t3"), "t1", "MNR", "approved").project
    p = decide(p, "t2", "MEE", "approved").project
    t = deem_consent(p, "t3")
    assert t.project.status is ProjectStatus.APPROVED
    assert t.project.task("t3").deemed is True
    recorded = t.events[0]
    assert isinstance(recorded, DecisionRecorded)
    assert (recorded.decision, recorded.deemed) == ("approved", True)
    assert types(t.events) == ["approval.decision.recorded", "project.approved"]


def test_deemed_consent_errors():
    p = in_review(consultative="t3")
    with pytest.raises(errors.TaskNotFound):
        deem_consent(p, "t9")
    with pytest.raises(errors.NotConsultative):
        deem_consent(p, "t1")
    waiting = decide(p, "t3", "MWR", "supplement_required", ["x"]).project
    with pytest.raises(errors.TaskNotPending):
        deem_consent(waiting, "t3")  # the clock is paused: silence cannot be consent
    with pytest.raises(errors.ProjectClosed):
        deem_consent(withdraw(p).project, "t3")


# --- misc -------------------------------------------------------------------------------------


def test_derive_status_table():
    def t(*statuses):
        return [TaskState(f"t{i}", "D", "M", status=s) for i, s in enumerate(statuses)]

    assert derive_status([]) is ProjectStatus.FILED
    assert derive_status(t("approved", "approved")) is ProjectStatus.APPROVED
    assert derive_status(t("approved", "rejected", "withdrawn")) is ProjectStatus.REJECTED
    assert derive_status(t("approved", "supplement_required")) is ProjectStatus.SUPPLEMENT_REQUIRED
    assert derive_status(t("approved", "pending")) is ProjectStatus.IN_REVIEW


def test_event_types_are_the_contract_types():
    assert {
        "project.submitted",
        "project.filed",
        "approval.task.assigned",
        "approval.decision.recorded",
        "project.supplement_requested",
        "project.supplement_provided",
        "project.approved",
        "project.rejected",
        "project.withdrawn",
        "approval.task.withdrawn",
    } == EVENT_TYPES


def test_error_families_map_to_http_statuses():
    not_found = (errors.TaskNotFound, errors.WrongDepartment, errors.ProjectNotFound)
    conflict = (errors.ProjectClosed, errors.TaskNotPending, errors.TaskNotAwaitingSupplement)
    invalid = (errors.MissingMaterialsRequired, errors.MaterialsRequired, errors.InvalidDecision)
    assert all(issubclass(c, errors.NotFound) for c in not_found)
    assert all(issubclass(c, errors.Conflict) for c in conflict)
    assert all(issubclass(c, errors.InvalidCommand) for c in invalid)
    # ... and the API answers each family with its status (problem+json).
    for family, status in ((not_found, 404), (conflict, 409), (invalid, 422)):
        for cls in family:
            assert domain_problem(cls("task t-1 not found", field="task_id")).status == status


def test_problems_name_the_field_or_the_resource():
    missing = domain_problem(errors.TaskNotFound("task t-1 not found", field="task_id"))
    assert missing.detail == "task t-1 was not found"
    invalid = domain_problem(
        errors.MissingMaterialsRequired("must list one", field="missing_materials")
    )
    assert invalid.detail == "body.missing_materials: must list one"
    assert invalid.errors == [{"loc": ["body", "missing_materials"], "msg": "must list one"}]
    reused = domain_problem(errors.IdempotencyKeyReused("used", field="Idempotency-Key"))
    assert (reused.status, reused.title) == (422, "Idempotency Key Reused")
    assert reused.errors == [
        {"loc": ["header", "Idempotency-Key"], "msg": "reused with another body"}
    ]
