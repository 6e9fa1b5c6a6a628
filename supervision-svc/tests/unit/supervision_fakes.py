"""In-memory repositories and unit of work for the handler tests (no database, no broker).

They keep what the SQL ones promise (see `supervision_svc.repository`): an alert's `open_key`
is unique among open alerts, a resolve only closes an open alert, the overdue candidates are
the pending tasks past their yellow threshold plus the tasks with an open alert, in task-id
order. Rows change at once; events are published only by `commit` (what the outbox does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.events import CloudEvent, ProjectData, TaskData, new_event
from supervision_svc.models import Alert, ProjectView, TaskView

T0 = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)
CODE = "2505-110105-04-01-000017"
CREDIT = "91440300708461136T"


class FakeProjects:
    def __init__(self) -> None:
        self.rows: dict[str, ProjectView] = {}

    async def get(self, project_code: str) -> ProjectView | None:
        return self.rows.get(project_code)

    def add(self, project: ProjectView) -> None:
        self.rows[project.project_code] = project

    async def credit_codes(self, project_codes):
        return {c: self.rows[c].credit_code for c in project_codes if c in self.rows}


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


class FakeTasks:
    def __init__(self, alerts: FakeAlerts) -> None:
        self.rows: dict[str, TaskView] = {}
        self._alerts = alerts

    async def get(self, task_id: str) -> TaskView | None:
        return self.rows.get(task_id)

    def add(self, task: TaskView) -> None:
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
        self.pending: list[Published] = []

    def emit(self, event: CloudEvent, topic: str, *, key: str | None = None) -> None:
        self.pending.append(Published(topic, key, event))

    async def commit(self) -> None:
        self.store.published += self.pending
        self.pending = []
        self.store.commits += 1

    async def __aenter__(self) -> FakeUnitOfWork:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self.pending = []  # not committed: its events never leave


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
