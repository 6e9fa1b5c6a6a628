"""Property-based tests of the state machine: parallel decisions in any order, duplicates,
supplement rounds, withdrawals and arbitrary (mostly invalid) commands."""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from approval_svc.domain import errors
from approval_svc.domain.events import DecisionRecorded, DomainEvent
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
DEPTS = ["NDRC", "MNR", "MEE", "MWR", "MOHURD", "MEM"]
CLOSING = {"project.approved", "project.rejected", "project.withdrawn"}


@dataclass(frozen=True)
class Cmd:
    kind: str  # decide | supplement | withdraw | deem
    task: str = ""
    dept: str = ""
    decision: str = ""
    materials: tuple[str, ...] = ()


def new_project(n: int, consultative: frozenset[int] = frozenset()):
    tasks = [
        TaskState(f"t{i}", DEPTS[i], f"{DEPTS[i]}-M", consultative=i in consultative)
        for i in range(n)
    ]
    return submit(CODE, tasks)


def apply(p: ProjectState, c: Cmd):
    if c.kind == "decide":
        return decide(p, c.task, c.dept, c.decision, c.materials)
    if c.kind == "supplement":
        return supplement(p, c.task, c.materials)
    if c.kind == "deem":
        return deem_consent(p, c.task)
    return withdraw(p)


def run(project: ProjectState, events: list[DomainEvent], cmds):
    """Apply commands, tolerating refusals; a refused command must leave the state untouched."""
    for c in cmds:
        before = copy.deepcopy(project)
        try:
            t = apply(project, c)
        except errors.DomainError:
            assert project == before
            continue
        project = t.project
        events.extend(t.events)
        check_invariants(project, events)
    return project


def check_invariants(p: ProjectState, events: list[DomainEvent]) -> None:
    statuses = [t.status for t in p.tasks]
    if p.status is not ProjectStatus.WITHDRAWN:
        assert p.status is derive_status(p.tasks)
    if p.is_closed:
        assert not any(t.is_open for t in p.tasks)
    if p.status is ProjectStatus.REJECTED:
        assert TaskStatus.PENDING not in statuses
        assert statuses.count(TaskStatus.REJECTED) == 1
    if p.status is ProjectStatus.APPROVED:
        assert set(statuses) == {TaskStatus.APPROVED}
    counts = Counter(e.type for e in events)
    closing = sum(counts[t] for t in CLOSING)
    assert closing == (1 if p.is_closed else 0)
    finals = Counter(
        e.task_id
        for e in events
        if isinstance(e, DecisionRecorded) and e.decision in ("approved", "rejected")
    )
    assert all(v == 1 for v in finals.values())
    withdrawn = Counter(
        getattr(e, "task_id", None) for e in events if e.type == "approval.task.withdrawn"
    )
    assert all(v == 1 for v in withdrawn.values())
    # Every task's status is what its events say.
    for t in p.tasks:
        if t.status in (TaskStatus.APPROVED, TaskStatus.REJECTED):
            assert finals[t.task_id] == 1
        if t.status is TaskStatus.WITHDRAWN:
            assert withdrawn[t.task_id] == 1
            assert finals[t.task_id] == 0


# --- scenarios: every task ends with a final decision, reached in any interleaving ------------


@st.composite
def scenarios(draw):
    n = draw(st.integers(1, 6))
    finals = draw(st.lists(st.sampled_from(["approved", "rejected"]), min_size=n, max_size=n))
    scripts: list[list[Cmd]] = []
    for i in range(n):
        steps: list[Cmd] = []
        for r in range(draw(st.integers(0, 2))):  # supplement rounds before the decision
            steps.append(Cmd("decide", f"t{i}", DEPTS[i], "supplement_required", (f"doc{r}",)))
            steps.append(Cmd("supplement", f"t{i}", materials=(f"doc{r}",)))
        steps.append(Cmd("decide", f"t{i}", DEPTS[i], finals[i]))
        scripts.append(steps)
    order: list[Cmd] = []
    late_duplicates: list[Cmd] = []
    queues = [list(s) for s in scripts]
    while any(queues):
        i = draw(st.sampled_from([k for k, q in enumerate(queues) if q]))
        cmd = queues[i].pop(0)
        order.append(cmd)
        if draw(st.booleans()):
            # At-least-once delivery: a message may arrive twice. An intermediate step can only
            # be re-delivered before the task moves on (later the service's dedupe catches it);
            # a final decision may come back at any time.
            if queues[i]:
                order.append(cmd)
            else:
                late_duplicates.append(cmd)
    for dup in late_duplicates:
        order.insert(draw(st.integers(order.index(dup) + 1, len(order))), dup)
    return n, finals, order


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_final_status_depends_only_on_the_final_decisions(scenario):
    n, finals, order = scenario
    start = new_project(n)
    events = list(start.events)
    p = run(start.project, events, order)
    expected = ProjectStatus.REJECTED if "rejected" in finals else ProjectStatus.APPROVED
    assert p.status is expected
    counts = Counter(e.type for e in events)
    assert counts["approval.task.assigned"] == n
    assert counts["project.approved"] == (expected is ProjectStatus.APPROVED)
    assert counts["project.rejected"] == (expected is ProjectStatus.REJECTED)
    if expected is ProjectStatus.REJECTED:
        assert not any(t.is_open for t in p.tasks)
        rejecter = next(t for t in p.tasks if t.status is TaskStatus.REJECTED)
        assert finals[int(rejecter.task_id[1:])] == "rejected"


@st.composite
def final_decisions_in_two_orders(draw):
    n = draw(st.integers(1, 6))
    finals = draw(st.lists(st.sampled_from(["approved", "rejected"]), min_size=n, max_size=n))
    cmds = [Cmd("decide", f"t{i}", DEPTS[i], finals[i]) for i in range(n)]
    # Each decision possibly delivered twice; both orders hold the same multiset.
    cmds += [c for c in cmds if draw(st.booleans())]
    return n, finals, draw(st.permutations(cmds)), draw(st.permutations(cmds))


@settings(max_examples=300, deadline=None)
@given(final_decisions_in_two_orders())
def test_concurrent_deliveries_reach_the_same_end_state(case):
    n, finals, order_a, order_b = case
    ev_a: list[DomainEvent] = []
    ev_b: list[DomainEvent] = []
    a = run(new_project(n).project, ev_a, order_a)
    b = run(new_project(n).project, ev_b, order_b)
    assert a.status is b.status
    closing_a = sorted(e.type for e in ev_a if e.type in CLOSING)
    closing_b = sorted(e.type for e in ev_b if e.type in CLOSING)
    assert closing_a == closing_b
    assert len(closing_a) == 1
    if "rejected" not in finals:
        # Without a rejection nothing is withdrawn, so the whole state is order-independent.
        assert a == b
        assert Counter(ev_a) == Counter(ev_b)


# --- withdrawals at any point -----------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(scenarios(), st.data())
def test_withdraw_at_any_point(scenario, data):
    n, _finals, order = scenario
    cut = data.draw(st.integers(0, len(order)))
    start = new_project(n)
    events = list(start.events)
    p = run(start.project, events, order[:cut])
    was_open = not p.is_closed
    p = run(p, events, [Cmd("withdraw"), *order[cut:]])
    if was_open:
        assert p.status is ProjectStatus.WITHDRAWN
        assert not any(t.is_open for t in p.tasks)
        assert sum(e.type == "project.withdrawn" for e in events) == 1
    else:
        assert sum(e.type == "project.withdrawn" for e in events) == 0


# --- arbitrary commands against an oracle -----------------------------------------------------


def expected_error(p: ProjectState, c: Cmd) -> type[errors.DomainError] | None:
    """An independent statement of which error a command must raise (None: it must succeed)."""
    if c.kind == "withdraw":
        return errors.ProjectClosed if p.is_closed else None
    task = next((t for t in p.tasks if t.task_id == c.task), None)
    if task is None:
        return errors.TaskNotFound
    if c.kind == "decide":
        if task.department != c.dept:
            return errors.WrongDepartment
        if p.is_closed:
            return errors.ProjectClosed
        if task.status is not TaskStatus.PENDING:
            return errors.TaskNotPending
        if c.decision not in ("approved", "rejected", "supplement_required"):
            return errors.InvalidDecision
        if c.decision == "supplement_required" and not any(m.strip() for m in c.materials):
            return errors.MissingMaterialsRequired
        return None
    if p.is_closed:
        return errors.ProjectClosed
    if c.kind == "supplement":
        if task.status is not TaskStatus.SUPPLEMENT_REQUIRED:
            return errors.TaskNotAwaitingSupplement
        return None if any(m.strip() for m in c.materials) else errors.MaterialsRequired
    if not task.consultative:
        return errors.NotConsultative
    return None if task.status is TaskStatus.PENDING else errors.TaskNotPending


_materials = st.lists(st.sampled_from(["plan", "map", "report"]), max_size=2).map(tuple)


def commands_for(n: int) -> st.SearchStrategy[Cmd]:
    """Commands on this project's tasks, with some unknown ids and foreign departments mixed in."""
    ids = [f"t{i}" for i in range(n)]
    task_ids = st.sampled_from([*ids, *ids, "t9"])  # t9 never exists

    @st.composite
    def decide_cmd(draw):
        task = draw(task_ids)
        own = DEPTS[int(task[1:])] if task != "t9" else "NDRC"
        # Mostly the task's own department, so the checks behind that one are reached.
        dept = draw(st.sampled_from([own, own, own, "NEA"]))
        decision = draw(st.sampled_from(["approved", "rejected", "supplement_required", "maybe"]))
        if decision == "rejected" and draw(st.booleans()):
            decision = "supplement_required"  # rejections end runs early; make them rarer
        return Cmd("decide", task, dept, decision, draw(_materials))

    supplement_cmd = st.builds(Cmd, kind=st.just("supplement"), task=task_ids, materials=_materials)
    return st.one_of(
        decide_cmd(),
        decide_cmd(),
        supplement_cmd,
        supplement_cmd,
        st.builds(Cmd, kind=st.just("deem"), task=task_ids),
    )


@settings(max_examples=400, deadline=None)
@given(
    n=st.integers(1, 4),
    consultative=st.frozensets(st.integers(0, 3)),
    data=st.data(),
    withdraw_at=st.one_of(st.none(), st.none(), st.none(), st.integers(0, 30)),
)
def test_arbitrary_commands_raise_exactly_as_the_oracle_says(n, consultative, data, withdraw_at):
    cmds = data.draw(st.lists(commands_for(n), max_size=30))
    if withdraw_at is not None:  # at most one withdrawal, so most runs go on long enough
        cmds = [*cmds[:withdraw_at], Cmd("withdraw"), *cmds[withdraw_at:]]
    start = new_project(n, consultative)
    project, events = start.project, list(start.events)
    for c in cmds:
        want = expected_error(project, c)
        before = copy.deepcopy(project)
        if want is not None:
            with pytest.raises(want) as exc:
                apply(project, c)
            assert type(exc.value) is want, (c, exc.value)
            assert project == before
            continue
        t = apply(project, c)
        project = t.project
        events.extend(t.events)
        check_invariants(project, events)
    # Whatever happened, every command on an existing task of a closed project is a conflict.
    if project.is_closed:
        own = Cmd("decide", "t0", DEPTS[0], "approved")
        for c in (
            Cmd("withdraw"),
            Cmd("deem", "t0"),
            Cmd("supplement", "t0", materials=("x",)),
            own,
        ):
            with pytest.raises(errors.ProjectClosed):
                apply(project, c)
