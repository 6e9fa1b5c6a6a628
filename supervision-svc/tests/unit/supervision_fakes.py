"""In-memory repositories and unit of work for the handler tests (no database, no broker).

They keep what the SQL ones promise (see `supervision_svc.repository`): an alert's `open_key`
is unique among open alerts, an alert leaves at most one credit record, a resolve only closes an open alert, the overdue candidates are
the pending tasks past their yellow threshold plus the tasks with an open alert, in task-id
order. Rows change at once; events are published only by `commit` (what the outbox does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.events import CloudEvent, ProjectData, TaskData, new_event
from supervision_svc.domain.alerts import earliest
from supervision_svc.models import (
    Alert,
    CreditAudit,
    CreditRecord,
    CreditState,
    Report,
)
from supervision_svc.rows import ProjectRow, TaskRow

T0 = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)
CODE = "2505-110105-04-01-000017"
CREDIT = "91440300708461136T"


class FakeProjects:
    def __init__(self) -> None:
        self.rows: dict[str, ProjectRow] = {}

    async def get(self, project_code: str) -> ProjectRow | None:
        return self.rows.get(project_code)

    async def add(self, project: ProjectRow) -> None:
        self.rows[project.project_code] = project

    async def credit_codes(self, project_codes):
        return {c: self.rows[c].credit_code for c in project_codes if c in self.rows}

    async def due_for_check(self, *, now, after, limit):
        due = [
            p
            for code, p in sorted(self.rows.items())
            if code > after and p.next_check_at is not None and p.next_check_at <= now
        ]
        return due[:limit]

    async def next_check_at(self):
        return earliest(*(p.next_check_at for p in self.rows.values()))


class FakeAlerts:
    def __init__(self) -> None:
        self.rows: dict[str, Alert] = {}

    def open(self) -> list[Alert]:
        return [a for a in self.rows.values() if a.resolved_at is None]

    async def open_of_tasks(self, task_ids, *, kind):
        found: dict[str, list[Alert]] = {}
        for alert in self.open():
            if alert.task_id in task_ids and alert.kind == kind:
                found.setdefault(alert.task_id or "", []).append(alert)
        return found

    async def add_unless_open(self, alert: Alert) -> bool:
        if any(a.open_key == alert.open_key for a in self.open()):
            return False
        self.rows[alert.alert_id] = alert
        return True

    async def resolve(self, alert: Alert, *, now: datetime) -> bool:
        stored = self.rows[alert.alert_id]
        if stored.resolved_at is not None:
            return False
        for row in {id(stored): stored, id(alert): alert}.values():
            row.resolved_at = now
            row.open_key = None
        return True

    async def open_of_project(self, project_code, *, kinds):
        return [a for a in self.open() if a.project_code == project_code and a.kind in kinds]

    async def escalate(self, alert: Alert, *, level, detail, now) -> bool:
        stored = self.rows[alert.alert_id]
        if stored.resolved_at is not None or stored.level == level:
            return False
        for row in {id(stored): stored, id(alert): alert}.values():
            row.level, row.detail, row.escalated_at = level, detail, now
        return True


class FakeTasks:
    def __init__(self, alerts: FakeAlerts) -> None:
        self.rows: dict[str, TaskRow] = {}
        self._alerts = alerts

    async def get(self, task_id: str) -> TaskRow | None:
        return self.rows.get(task_id)

    async def add(self, task: TaskRow) -> None:
        self.rows[task.task_id] = task

    async def to_check_for_overdue(self, *, now, kind, after, limit):
        alerted = {a.task_id for a in self._alerts.open() if a.kind == kind}
        due = [
            t
            for t in self.rows.values()
            if t.task_id > after
            and ((t.status == "pending" and t.yellow_at <= now) or t.task_id in alerted)
        ]
        return sorted(due, key=lambda t: t.task_id)[:limit]

    async def departments_of(self, project_code):
        return {t.department for t in self.rows.values() if t.project_code == project_code}

    async def next_due(self, *, after):
        pending = [t for t in self.rows.values() if t.status == "pending"]
        return earliest(
            *(t.yellow_at for t in pending if t.yellow_at > after),
            *(t.due_at for t in pending if t.due_at > after),
        )


class FakeReports:
    def __init__(self) -> None:
        self.rows: list[Report] = []

    def add(self, report: Report) -> None:
        self.rows.append(report)


class FakeCredit:
    def __init__(self) -> None:
        self.records: dict[str, CreditRecord] = {}
        self.states: dict[str, CreditState] = {}
        self.audits: list[CreditAudit] = []

    async def add_record(self, record: CreditRecord) -> bool:
        if any(r.alert_id == record.alert_id for r in self.records.values()):
            return False
        self.records[record.record_id] = record
        return True

    async def records_of(self, credit_code):
        return sorted(
            (r for r in self.records.values() if r.credit_code == credit_code),
            key=lambda r: (r.created_at, r.record_id),
        )

    async def get_record(self, record_id):
        return self.records.get(record_id)

    def update_record(self, record: CreditRecord) -> None:
        self.records[record.record_id] = record

    async def state_of(self, credit_code):
        return self.states.get(credit_code)

    def put_state(self, state: CreditState) -> None:
        self.states[state.credit_code] = state

    def audit(self, entry: CreditAudit) -> None:
        self.audits.append(entry)

    async def due_for_check(self, *, now, limit):
        due = [s for s in self.states.values() if s.next_check_at and s.next_check_at <= now]
        return due[:limit]

    async def next_check_at(self):
        return earliest(*(s.next_check_at for s in self.states.values()))


class FakeStats:
    def __init__(self) -> None:
        self.counters: dict[tuple[str, str, str], float] = {}
        self.submissions: dict[tuple[str, date, str], int] = {}

    async def bump(self, scope, metric, key, delta=1):
        if delta:
            k = (scope, metric, key)
            self.counters[k] = self.counters.get(k, 0) + delta

    async def count_submission(self, *, dimension, day, key):
        k = (dimension, day, key)
        self.submissions[k] = self.submissions.get(k, 0) + 1

    def get(self, scope: str, metric: str, key: str) -> float:
        return self.counters.get((scope, metric, key), 0)


@dataclass
class Published:
    topic: str
    key: str | None
    event: CloudEvent


@dataclass
class FakeStore:
    """The database and the broker the fake units of work share."""

    projects: FakeProjects = field(default_factory=FakeProjects)
    alerts: FakeAlerts = field(default_factory=FakeAlerts)
    tasks: FakeTasks = field(init=False)
    reports: FakeReports = field(default_factory=FakeReports)
    credit: FakeCredit = field(default_factory=FakeCredit)
    stats: FakeStats = field(default_factory=FakeStats)
    published: list[Published] = field(default_factory=list)
    commits: int = 0

    def __post_init__(self) -> None:
        self.tasks = FakeTasks(self.alerts)


class FakeUnitOfWork:
    def __init__(self, store: FakeStore | None = None) -> None:
        self.store = store or FakeStore()
        self.projects = self.store.projects
        self.tasks = self.store.tasks
        self.alerts = self.store.alerts
        self.reports = self.store.reports
        self.credit = self.store.credit
        self.stats = self.store.stats
        self.pending: list[Published] = []
        self.callbacks: list[Any] = []

    def after_commit(self, callback: Any) -> None:
        self.callbacks.append(callback)

    def emit(self, event: CloudEvent, topic: str, *, key: str | None = None) -> None:
        self.pending.append(Published(topic, key, event))

    async def commit(self) -> None:
        self.store.published += self.pending
        self.pending = []
        self.store.commits += 1
        for callback in self.callbacks:
            callback()
        self.callbacks = []

    async def __aenter__(self) -> FakeUnitOfWork:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self.pending = []  # not committed: its events never leave
        self.callbacks = []


def task_data(task_id: str = "T-1", **over: Any) -> TaskData:
    task: dict[str, Any] = {
        "task_id": task_id,
        "project_code": CODE,
        "department": "MEE",
        "matter_code": "MEE-EIA-REPORT",
        "matter_name": "EIA approval: report",
        "status": "pending",
        "assigned_at": T0,
        "due_at": T0 + timedelta(days=10),
        "promised_due_at": T0 + timedelta(days=10),
    }
    return TaskData.model_validate(task | over)


def project_data(*tasks: TaskData, **over: Any) -> ProjectData:
    project: dict[str, Any] = {
        "project_code": CODE,
        "credit_code": CREDIT,
        "name": "Plant",
        "region_code": "110105",
        "industry_code": "C26",
        "procedure": "verification",
        "status": "in_review",
        "total_investment": "120000000.00",
        "submitted_at": T0,
        "tasks": [t.model_dump() for t in tasks],
    }
    return ProjectData.model_validate(project | over)


def approval_event(event_type: str, data: Any, *, time: datetime = T0) -> CloudEvent:
    return new_event(type=event_type, source="/approval-svc", subject=CODE, data=data, time=time)
