"""Read benchmark: p50/p99 of every list endpoint and of the overviews, over N projects.

    .venv/bin/python -m bench.reads [--n 100000] [--requests 300] [--database sqlite|postgres]

Seeds fresh databases of approval-svc, supervision-svc and notify-svc (their Alembic migrations,
then rows written straight with SQLAlchemy Core executemany) with one consistent world: N
projects of the 12 sample enterprises (`services.samples.CREDIT_CODES`, ~1/12 each) over the
last two years, 120 regions, 40 industries, the departments and matters the sample profiles
route to (`services.samples.PROFILES` through the real catalogue and routing), statuses that
follow from each task's decision time (recent projects still in review, old ones approved,
rejected, withdrawn or filed), document numbers, the audit timeline; in supervision the
projection of the same projects and tasks, approval-overdue and construction alerts, reports,
credit records and states and the statistics counters; in notify subscriptions and their
deliveries. Then every list route (and the overview) is called through the real apps (ASGI,
in-process, no broker) `--requests` times each, after a short warm-up, one request at a time;
deep pages are reached by following `next_cursor` (pages of 500) from the first page.

`--database postgres` creates its own databases on postgresql://postgres@127.0.0.1:5432
(`bench_reads_<random>_<service>`, via the maintenance database `test`) and drops them at the
end, also on error or SIGTERM; the tables are ANALYZEd after seeding (what autovacuum does after
a bulk load). SQLite files go to a temporary folder (never ANALYZEd: the services do not either).

The last line is ``RESULT reads_max_p99_ms=<max> <endpoint>_p99_ms=<p99> ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import json
import random
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import Any

if __package__ in (None, ""):  # run as a script: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import httpx
import psycopg
import sqlalchemy as sa
from fastapi import FastAPI

import approval_svc
import notify_svc
import supervision_svc
from approval_svc import models as am
from approval_svc.app import create_app as create_approval_app
from approval_svc.catalogue_file import load_catalogue
from approval_svc.domain.catalogue import Matter
from approval_svc.domain.identifiers import _region_known, code_prefix, make_project_code
from approval_svc.domain.routing import route
from approval_svc.domain.workdays import CHINA_TZ
from approval_svc.schemas import ProjectIn
from approval_svc.settings import get_approval_settings
from notify_svc import models as nm
from notify_svc.app import create_app as create_notify_app
from notify_svc.settings import get_notify_settings
from services.samples import CREDIT_CODES, PROFILES
from shared.auth import mint_token
from shared.db import sync_url, table_of
from shared.events import EventType
from shared.migrations import upgrade
from supervision_svc import models as sm
from supervision_svc.app import create_app as create_supervision_app
from supervision_svc.domain.credit import RecordFacts, credit_status, severity_of
from supervision_svc.settings import get_supervision_settings

SECRET = "bench-secret-bench-secret-bench-secret"
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_MAINTENANCE_DB = "test"
SERVICES = ("approval", "supervision", "notify")
MIGRATIONS = {
    "approval": Path(approval_svc.__file__).parent / "migrations",
    "supervision": Path(supervision_svc.__file__).parent / "migrations",
    "notify": Path(notify_svc.__file__).parent / "migrations",
}
SPAN_DAYS = 730  # projects submitted over the last two years
CHUNK = 5_000  # projects generated and written per transaction
BUDGET_MS = 50.0
WARMUP = 5
DEEP_ROWS = 20_000  # how far `*.deep` cases page in (or half of the list when it is shorter)
WALK_LIMIT = 500
INDUSTRIES = (
    "A0111", "B0610", "C1310", "C1511", "C1713", "C2211", "C2614", "C2710", "C2929", "C3011",
    "C3120", "C3311", "C3411", "C3511", "C3612", "C3720", "C3841", "C3911", "C4011", "D4411",
    "D4415", "D4420", "D4430", "E4710", "E4811", "E4910", "F5111", "G5411", "G5810", "H6110",
    "I6311", "I6510", "K7010", "L7211", "M7320", "N7610", "N7850", "P8331", "Q8411", "R8810",
)  # fmt: skip
NOTIFY_DEPARTMENTS = ("NDRC", "MEE", "NCHA")  # departments with a webhook subscription


# --- fresh databases ------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_databases(prefix: str, services: Sequence[str]) -> Iterator[dict[str, str]]:
    """New empty PostgreSQL databases `<prefix>_<random>_<service>` on `PG_SERVER`, dropped
    (WITH (FORCE)) when the block ends, however it ends."""
    tag = uuid.uuid4().hex[:10]
    names = {service: f"{prefix}_{tag}_{service}" for service in services}
    created: list[str] = []
    admin = f"{PG_SERVER}/{PG_MAINTENANCE_DB}"
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in names.values():
                conn.execute(f'CREATE DATABASE "{name}"')
                created.append(name)
        print(f"created PostgreSQL databases {', '.join(created)}", flush=True)
        yield {service: f"{PG_SERVER}/{name}" for service, name in names.items()}
    finally:
        if created:
            with psycopg.connect(admin, autocommit=True) as conn:
                for name in created:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            print(f"dropped PostgreSQL databases {', '.join(created)}", flush=True)


@contextlib.contextmanager
def fresh_databases(
    kind: str, services: Sequence[str], *, prefix: str = "bench_reads", workdir: Path | None = None
) -> Iterator[dict[str, str]]:
    """One empty database per service: SQLite files in a temporary folder (or `workdir`,
    kept), or PostgreSQL databases created for the run and dropped afterwards."""
    if kind == "postgres":
        with postgres_databases(prefix, services) as urls:
            yield urls
        return
    if kind != "sqlite":
        raise ValueError(f"--database is sqlite or postgres, not {kind!r}")
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        yield {service: f"sqlite:///{workdir}/{service}.db" for service in services}
        return
    with tempfile.TemporaryDirectory() as folder:
        yield {service: f"sqlite:///{folder}/{service}.db" for service in services}


def terminate_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so `finally` blocks (dropping databases) still run."""

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)


# --- the world ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    weight: float
    procedure: str
    matters: tuple[Matter, ...]
    details: dict[str, Any]


@dataclass(slots=True)
class SeedTask:
    task_id: str
    position: int
    matter: Matter
    assigned_at: datetime
    due_at: datetime
    promised_due_at: datetime
    yellow_at: datetime
    status: str = "pending"
    decided_at: datetime | None = None
    decision: str | None = None
    document_number: str | None = None
    missing: list[str] = field(default_factory=list)
    supplement_asked_at: datetime | None = None
    supplement_given_at: datetime | None = None
    withdrawn_at: datetime | None = None


@dataclass(slots=True)
class SeedProject:
    code: str
    credit_code: str
    name: str
    region: str
    industry: str
    procedure: str
    profile: Profile
    submitted_at: datetime
    investment: Decimal
    planned_start: date
    tasks: list[SeedTask]
    status: str = "in_review"
    closed_at: datetime | None = None


@dataclass(slots=True)
class Facts:
    """What the cases need to know about the seeded world."""

    enterprise: str = CREDIT_CODES[0]
    enterprise_codes: list[str] = field(default_factory=list)  # newest last
    reported_codes: list[str] = field(default_factory=list)  # the enterprise's, with reports
    decided_codes: list[str] = field(default_factory=list)  # projects with a document
    regions: Counter[str] = field(default_factory=Counter)
    department_tasks: Counter[str] = field(default_factory=Counter)
    first_day: date = date(2025, 1, 1)
    last_day: date = date(2025, 1, 1)
    counts: Counter[str] = field(default_factory=Counter)


def _profiles() -> tuple[Profile, ...]:
    catalogue = load_catalogue()
    rng = random.Random(0)
    out = []
    for make, weight in PROFILES:
        body = ProjectIn(**make(rng))
        matters = tuple(catalogue.matter(code) for code in route(body.facts(), catalogue))
        out.append(Profile(make.__name__, weight, body.procedure, matters, body.details()))
    return tuple(out)


def _regions(count: int) -> list[str]:
    found: list[str] = []
    for province in (11, 12, 13, 31, 32, 33, 35, 37, 41, 42, 44, 50, 51, 53, 61):
        for city in range(1, 6):
            for county in range(1, 10):
                code = f"{province}{city:02d}{county:02d}"
                if _region_known(code):
                    found.append(code)
    return random.Random(1).sample(found, count)


def _days(matter: Matter, count: float) -> timedelta:
    """`count` days of the matter's kind, roughly (working days: 7/5 of calendar days)."""
    return timedelta(days=count * (1.4 if matter.day_kind == "working" else 1.0))


class World:
    """Generates the projects, chunk by chunk, deterministically from a seed."""

    def __init__(self, n: int, now: datetime, seed: int) -> None:
        self.n = n
        self.now = now
        self.rng = random.Random(seed)
        self.profiles = _profiles()
        self.weights = [p.weight for p in self.profiles]
        self.regions = _regions(120)
        self.serials: Counter[str] = Counter()
        self.documents: Counter[tuple[str, int]] = Counter()
        self.start = now - timedelta(days=SPAN_DAYS)

    def chunk(self, lo: int, hi: int) -> list[SeedProject]:
        rng = self.rng
        projects = []
        step = SPAN_DAYS * 86_400 / self.n
        for i in range(lo, hi):
            profile = rng.choices(self.profiles, self.weights)[0]
            region = rng.choice(self.regions[: 20 + rng.randrange(100)])  # some busier regions
            industry = rng.choice(INDUSTRIES)
            at = self.start + timedelta(seconds=i * step + rng.random() * step)
            at = at.replace(microsecond=at.microsecond // 1000 * 1000)
            month = at.astimezone(CHINA_TZ).date()
            prefix = code_prefix(month, region, industry, profile.procedure)
            self.serials[prefix] += 1
            code = make_project_code(
                month, region, industry, profile.procedure, self.serials[prefix]
            )
            tasks = []
            for position, matter in enumerate(profile.matters):
                tasks.append(
                    SeedTask(
                        task_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        position=position,
                        matter=matter,
                        assigned_at=at,
                        due_at=at + _days(matter, matter.legal_limit),
                        promised_due_at=at + _days(matter, matter.promised_limit),
                        yellow_at=at + _days(matter, matter.legal_limit * 0.9),
                    )
                )
            project = SeedProject(
                code=code,
                credit_code=CREDIT_CODES[i % len(CREDIT_CODES)],
                name=f"{profile.name.replace('_', ' ').title()} No. {i}",
                region=region,
                industry=industry,
                procedure=profile.procedure,
                profile=profile,
                submitted_at=at,
                investment=Decimal(rng.randrange(100, 400_000)) * 10_000,
                planned_start=at.date() + timedelta(days=rng.randint(30, 240)),
                tasks=tasks,
            )
            self._decide(project)
            projects.append(project)
        self._number_documents(projects)
        return projects

    def _decide(self, project: SeedProject) -> None:
        """Each task is decided some time after assignment (some late, past their limit);
        what has not happened by `now` is still pending: the project's status follows."""
        rng, now, tasks = self.rng, self.now, project.tasks
        if not tasks:
            project.status, project.closed_at = "filed", project.submitted_at
            return
        for task in tasks:
            task.decided_at = task.assigned_at + _days(
                task.matter, task.matter.legal_limit * rng.uniform(0.15, 1.25)
            )
            task.decision = "approved"
        outcome = rng.random()
        if outcome < 0.06:  # one task asks for a supplement, answered 3-20 days later
            task = rng.choice(tasks)
            assert task.decided_at is not None
            task.supplement_asked_at = task.decided_at
            task.missing = ["site plan", "land use certificate"][: rng.randint(1, 2)]
            task.supplement_given_at = task.decided_at + timedelta(days=rng.uniform(3, 20))
            task.decided_at = task.supplement_given_at + timedelta(days=rng.uniform(1, 10))
        elif outcome < 0.13:  # one task rejects: the project is rejected then
            rng.choice(tasks).decision = "rejected"
        withdraw_at = (
            project.submitted_at + timedelta(days=rng.uniform(1, 25)) if outcome > 0.97 else None
        )
        ends = [t.decided_at for t in tasks if t.decision == "rejected" and t.decided_at]
        end = min([*ends, *([withdraw_at] if withdraw_at else [])], default=None)
        for task in tasks:
            assert task.decided_at is not None
            if task.supplement_asked_at and task.supplement_asked_at <= now:
                if end is not None and task.supplement_asked_at > end:
                    task.supplement_asked_at = task.supplement_given_at = None
                    task.missing = []
                elif task.supplement_given_at and task.supplement_given_at > now:
                    task.supplement_given_at = None
            elif task.supplement_asked_at:
                task.supplement_asked_at = task.supplement_given_at = None
                task.missing = []
            if task.decided_at > now or (end is not None and task.decided_at > end):
                task.decided_at, task.decision = None, None
                if end is not None and end <= now:
                    task.status, task.withdrawn_at = "withdrawn", end
                elif task.supplement_asked_at and task.supplement_given_at is None:
                    task.status = "supplement_required"
                else:
                    task.status = "pending"
            else:
                task.status = task.decision or "approved"
        statuses = {t.status for t in tasks}
        if "rejected" in statuses:
            project.status = "rejected"
        elif withdraw_at is not None and withdraw_at <= now and "withdrawn" in statuses:
            project.status = "withdrawn"
        elif statuses == {"approved"}:
            project.status = "approved"
        elif "supplement_required" in statuses:
            project.status = "supplement_required"
        else:
            project.status = "in_review"
        if project.status in ("approved", "rejected"):
            project.closed_at = max(t.decided_at for t in tasks if t.decided_at)
        elif project.status == "withdrawn":
            project.closed_at = withdraw_at

    def _number_documents(self, projects: list[SeedProject]) -> None:
        decided = [t for p in projects for t in p.tasks if t.status in ("approved", "rejected")]
        for task in sorted(decided, key=lambda t: t.decided_at or self.now):
            assert task.decided_at is not None
            year = task.decided_at.astimezone(CHINA_TZ).year
            key = (task.matter.department, year)
            self.documents[key] += 1
            task.document_number = f"{key[0]}-{year}-{self.documents[key]:06d}"


# --- rows per service -----------------------------------------------------------------------


def _entry(
    p: SeedProject,
    at: datetime,
    action: str,
    task: SeedTask | None = None,
    *,
    by_department: bool = False,
    **detail: Any,
) -> dict[str, Any]:
    """A timeline row: the enterprise's user, or an officer of the task's department."""
    department = task.matter.department if task is not None else None
    return {
        "project_code": p.code,
        "at": at,
        "action": action,
        "actor": f"{department}-officer-1" if by_department else f"user-{p.credit_code[-6:]}",
        "actor_role": "department" if by_department else "enterprise",
        "task_id": task.task_id if task else None,
        "department": department,
        "detail": detail,
        "event_id": str(uuid.uuid4()),
    }


def approval_rows(projects: Sequence[SeedProject]) -> dict[str, list[dict[str, Any]]]:
    p_rows, t_rows, timeline = [], [], []
    for p in projects:
        last_change = max(
            [p.submitted_at, *(x for t in p.tasks for x in (t.decided_at, t.withdrawn_at) if x)]
        )
        p_rows.append(
            {
                "project_code": p.code,
                "credit_code": p.credit_code,
                "name": p.name,
                "region_code": p.region,
                "industry_code": p.industry,
                "procedure": p.procedure,
                "status": p.status,
                "total_investment": p.investment,
                "location": f"Region {p.region}, plot {len(p.name) * 7 % 400}",
                "planned_start": p.planned_start,
                "description": f"{p.name}: construction of the main works.",
                "details": p.profile.details,
                "submitted_at": p.submitted_at,
                "updated_at": p.closed_at or last_change,
                "credit_flag": None,
            }
        )
        timeline.append(_entry(p, p.submitted_at, EventType.PROJECT_SUBMITTED.value))
        for t in p.tasks:
            t_rows.append(
                {
                    "task_id": t.task_id,
                    "project_code": p.code,
                    "position": t.position,
                    "department": t.matter.department,
                    "matter_code": t.matter.code,
                    "matter_name": t.matter.name,
                    "status": t.status,
                    "consultative": t.matter.consultative,
                    "day_kind": t.matter.day_kind,
                    "legal_limit_days": t.matter.legal_limit,
                    "promised_limit_days": t.matter.promised_limit,
                    "assigned_at": t.assigned_at,
                    "due_at": t.due_at,
                    "promised_due_at": t.promised_due_at,
                    "paused_days": 0,
                    "paused_at": t.supplement_asked_at
                    if t.status == "supplement_required"
                    else None,
                    "decided_at": t.decided_at,
                    "decision": t.decision,
                    "opinion": "in order" if t.decision == "approved" else t.decision,
                    "missing_materials": t.missing if t.status == "supplement_required" else [],
                    "document_number": t.document_number,
                    "deemed": False,
                    "reply_due_at": None,
                    "credit_flag": None,
                }
            )
            timeline.append(
                _entry(
                    p,
                    t.assigned_at,
                    EventType.TASK_ASSIGNED.value,
                    t,
                    matter_code=t.matter.code,
                )
            )
            if t.supplement_asked_at:
                timeline.append(
                    _entry(
                        p,
                        t.supplement_asked_at,
                        EventType.PROJECT_SUPPLEMENT_REQUESTED.value,
                        t,
                        by_department=True,
                        matter_code=t.matter.code,
                        decision="supplement_required",
                        missing_materials=t.missing,
                    )
                )
            if t.supplement_given_at:
                timeline.append(
                    _entry(p, t.supplement_given_at, EventType.PROJECT_SUPPLEMENT_PROVIDED.value, t)
                )
            if t.decided_at:
                timeline.append(
                    _entry(
                        p,
                        t.decided_at,
                        EventType.DECISION_RECORDED.value,
                        t,
                        by_department=True,
                        matter_code=t.matter.code,
                        decision=t.decision,
                    )
                )
            if t.withdrawn_at:
                timeline.append(
                    _entry(p, t.withdrawn_at, EventType.TASK_WITHDRAWN.value, t, reason="closed")
                )
        final = {
            "filed": EventType.PROJECT_FILED,
            "approved": EventType.PROJECT_APPROVED,
            "rejected": EventType.PROJECT_REJECTED,
            "withdrawn": EventType.PROJECT_WITHDRAWN,
        }.get(p.status)
        if final is not None and p.closed_at is not None:
            timeline.append(_entry(p, p.closed_at, final.value))
    t_rows.sort(key=lambda r: str(r["assigned_at"]))
    timeline.sort(key=lambda r: r["at"])  # ids in the order things happened
    return {"projects": p_rows, "tasks": t_rows, "timeline": timeline}


@dataclass(slots=True)
class CreditLedger:
    records: dict[str, list[RecordFacts]] = field(default_factory=dict)
    first_at: dict[str, datetime] = field(default_factory=dict)


def _alert(
    code: str,
    kind: str,
    level: str,
    raised_at: datetime,
    resolved_at: datetime | None,
    *,
    credit_code: str | None,
    task: SeedTask | None = None,
    escalated_at: datetime | None = None,
) -> dict[str, Any]:
    subject = task.task_id if task else code
    return {
        "alert_id": str(uuid.uuid4()),
        "project_code": code,
        "kind": kind,
        "level": level,
        "raised_at": raised_at,
        "detail": f"{kind} on {subject}",
        "resolved_at": resolved_at,
        "credit_code": credit_code,
        "department": task.matter.department if task else None,
        "task_id": task.task_id if task else None,
        "open_key": f"{kind}:{subject}" if resolved_at is None else None,
        "escalated_at": escalated_at,
    }


def supervision_rows(
    projects: Sequence[SeedProject], now: datetime, rng: random.Random, ledger: CreditLedger
) -> dict[str, list[dict[str, Any]]]:
    p_rows: list[dict[str, Any]] = []
    t_rows: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    reports: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    for p in projects:
        row: dict[str, Any] = {
            "project_code": p.code,
            "credit_code": p.credit_code,
            "name": p.name,
            "status": p.status,
            "procedure": p.procedure,
            "region_code": p.region,
            "planned_start": p.planned_start,
            "submitted_at": p.submitted_at,
            "updated_at": p.closed_at or p.submitted_at,
            "version_at": p.closed_at or p.submitted_at,
            "industry_code": p.industry,
            "cleared_at": p.closed_at if p.status in ("approved", "filed") else None,
            "started_on": None,
            "completed_on": None,
            "last_report_on": None,
            "reported_progress": None,
            "invested_to_date": None,
            "planned_completion": None,
            "started_before_approval": False,
            "next_check_at": None,
        }
        for t in p.tasks:
            t_rows.append(
                {
                    "task_id": t.task_id,
                    "project_code": p.code,
                    "department": t.matter.department,
                    "matter_code": t.matter.code,
                    "matter_name": t.matter.name,
                    "status": t.status,
                    "assigned_at": t.assigned_at,
                    "due_at": t.due_at,
                    "yellow_at": t.yellow_at,
                    "decided_at": t.decided_at,
                    "decision": t.decision,
                    "decision_seconds": (t.decided_at - t.assigned_at).total_seconds()
                    if t.decided_at
                    else None,
                    "version_at": t.decided_at or t.withdrawn_at or t.assigned_at,
                }
            )
            # Approval overdue: a card once 90 % of the limit has passed, red past it.
            end = t.decided_at or t.withdrawn_at
            if t.status in ("pending", "supplement_required") and now > t.yellow_at:
                red = now > t.due_at
                alerts.append(
                    _alert(
                        p.code,
                        "approval_overdue",
                        "red" if red else "yellow",
                        t.yellow_at,
                        None,
                        credit_code=p.credit_code,
                        task=t,
                        escalated_at=t.due_at if red else None,
                    )
                )
            elif end is not None and end > t.yellow_at:
                red = end > t.due_at
                alerts.append(
                    _alert(
                        p.code,
                        "approval_overdue",
                        "red" if red else "yellow",
                        t.yellow_at,
                        end,
                        credit_code=p.credit_code,
                        task=t,
                        escalated_at=t.due_at if red else None,
                    )
                )
        cleared = row["cleared_at"]
        if cleared is not None and p.tasks:
            _construction(p, row, cleared, now, rng, alerts, reports)
        p_rows.append(row)
    for a in alerts:
        severity = severity_of(a["kind"])
        if a["level"] != "red" or severity is None:
            continue
        created = a["escalated_at"] or a["raised_at"]
        corrected = created + timedelta(days=rng.uniform(5, 60))
        is_corrected = corrected < now and rng.random() < 0.8
        records.append(
            {
                "record_id": str(uuid.uuid4()),
                "credit_code": a["credit_code"],
                "project_code": a["project_code"],
                "severity": severity,
                "reason": f"{a['kind']} red on project {a['project_code']}: {a['detail']}",
                "alert_id": a["alert_id"],
                "created_at": created,
                "corrected_at": corrected if is_corrected else None,
                "correction_reason": "rectified" if is_corrected else None,
                "corrected_by": "ops-1" if is_corrected else None,
            }
        )
        ledger.records.setdefault(a["credit_code"], []).append(
            RecordFacts(severity=severity, created_at=created, corrected=is_corrected)
        )
        ledger.first_at.setdefault(a["credit_code"], created)
    alerts.sort(key=lambda a: a["raised_at"])
    return {
        "projects": p_rows,
        "tasks": t_rows,
        "alerts": alerts,
        "reports": reports,
        "credit_records": records,
    }


def _construction(
    p: SeedProject,
    row: dict[str, Any],
    cleared: datetime,
    now: datetime,
    rng: random.Random,
    alerts: list[dict[str, Any]],
    reports: list[dict[str, Any]],
) -> None:
    """Construction of an approved project: a start report (usually near the planned start),
    progress reports every one to three months; a few late starts and missing reports."""
    planned = max(p.planned_start, cleared.date())
    today = now.date()
    late = rng.random() < 0.03
    if p.credit_code in CREDIT_CODES[-3:] and rng.random() < 0.002:
        # Work began before approval: a serious record (enough of them: dishonest).
        alerts.append(
            _alert(
                p.code,
                "started_before_approval",
                "red",
                p.submitted_at + timedelta(days=2),
                None,
                credit_code=p.credit_code,
            )
        )
        row["started_before_approval"] = True
    start = planned + timedelta(days=rng.randint(60, 150) if late else rng.randint(-5, 25))
    due = datetime.combine(planned + timedelta(days=30), datetime.min.time(), UTC)
    if late and due < now:
        began = datetime.combine(start, datetime.min.time(), UTC)
        red_at = due + timedelta(days=30)
        red = min(began, now) > red_at
        alerts.append(
            _alert(
                p.code,
                "start_overdue",
                "red" if red else "yellow",
                due,
                began if began <= now else None,
                credit_code=p.credit_code,
                escalated_at=red_at if red else None,
            )
        )
    if start > today:
        row["next_check_at"] = due if due > now else now + timedelta(days=1)
        return
    on, progress, invested = start, Decimal(0), Decimal(0)
    kind = "start"
    count = 0
    # A few enterprises stop reporting after a few reports (progress_missing).
    most = rng.randint(1, 5) if rng.random() < 0.03 else 40
    while on <= today and count < most:
        reports.append(
            {
                "report_id": str(uuid.uuid4()),
                "project_code": p.code,
                "credit_code": p.credit_code,
                "kind": kind,
                "report_date": on,
                "progress_percent": progress,
                "invested_to_date": invested,
                "note": None,
                "planned_completion": planned + timedelta(days=720) if kind == "start" else None,
                "filed_at": datetime.combine(on, datetime.min.time(), UTC)
                + timedelta(hours=rng.uniform(8, 18)),
            }
        )
        row["started_on"] = start
        row["last_report_on"] = on
        row["reported_progress"] = progress
        row["invested_to_date"] = invested
        row["planned_completion"] = planned + timedelta(days=720)
        if progress >= 100:
            row["completed_on"] = on
            return
        count += 1
        gap = rng.randint(30, 95)
        on += timedelta(days=gap)
        progress = min(Decimal(100), progress + Decimal(rng.randint(5, 20)))
        invested += (p.investment * Decimal(rng.randint(5, 20)) / 100).quantize(Decimal(1))
        kind = "completion" if progress >= 100 else "progress"
    if row["completed_on"] is None:
        last = row["last_report_on"]
        row["next_check_at"] = datetime.combine(last + timedelta(days=90), datetime.min.time(), UTC)
        if today - last > timedelta(days=90):
            missing_at = datetime.combine(last + timedelta(days=90), datetime.min.time(), UTC)
            red_at = missing_at + timedelta(days=30)
            alerts.append(
                _alert(
                    p.code,
                    "progress_missing",
                    "red" if now > red_at else "yellow",
                    missing_at,
                    None,
                    credit_code=p.credit_code,
                    escalated_at=red_at if now > red_at else None,
                )
            )


def notify_subscriptions(now: datetime) -> list[dict[str, Any]]:
    """Each enterprise a webhook (every project event) and an e-mail (final results), three
    departments a webhook, ops two; one deleted subscription per kind of owner."""
    subs = []
    created = now - timedelta(days=SPAN_DAYS + 10)
    project_events = sorted(t.value for t in EventType if t.value.startswith("project."))
    finals = [EventType.PROJECT_APPROVED.value, EventType.PROJECT_REJECTED.value]
    task_events = [EventType.TASK_ASSIGNED.value, EventType.TASK_WITHDRAWN.value]

    def sub(
        key: str,
        owner: str,
        role: str,
        channel: str,
        types: list[str],
        *,
        credit_code: str | None = None,
        department: str | None = None,
        deleted: bool = False,
    ) -> dict[str, Any]:
        return {
            "id": f"sub-{key}",
            "owner": owner,
            "owner_role": role,
            "owner_credit_code": credit_code,
            "owner_department": department,
            "created_by": f"{owner}-admin",
            "channel": channel,
            "target": f"https://hooks.example.com/{key}"
            if channel == "webhook"
            else f"{key}@example.com",
            "event_types": types,
            "secret": uuid.uuid4().hex,
            "created_at": created,
            "deleted_at": now - timedelta(days=100) if deleted else None,
        }

    for i, cc in enumerate(CREDIT_CODES):
        owner = f"enterprise:{cc}"
        subs.append(
            sub(f"e{i}-hook", owner, "enterprise", "webhook", project_events, credit_code=cc)
        )
        subs.append(sub(f"e{i}-mail", owner, "enterprise", "email", finals, credit_code=cc))
        if i == 0:
            subs.append(
                sub("e0-old", owner, "enterprise", "webhook", finals, credit_code=cc, deleted=True)
            )
    for dept in NOTIFY_DEPARTMENTS:
        subs.append(
            sub(f"d-{dept}", f"department:{dept}", "department", "webhook", task_events,
                department=dept)
        )  # fmt: skip
    subs.append(sub("ops-rejected", "ops", "ops", "webhook", [EventType.PROJECT_REJECTED.value]))
    subs.append(sub("ops-withdrawn", "ops", "ops", "email", [EventType.PROJECT_WITHDRAWN.value]))
    return subs


def notify_rows(
    projects: Sequence[SeedProject], now: datetime, rng: random.Random
) -> dict[str, list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    index = {c: i for i, c in enumerate(CREDIT_CODES)}

    def deliver(sub_id: str, channel: str, event_type: str, code: str, at: datetime) -> None:
        at = at + timedelta(milliseconds=rng.randint(20, 900))
        roll = rng.random()
        status = (
            "pending"
            if at > now - timedelta(minutes=5)
            else "failed"
            if roll < 0.02
            else "delivered"
        )
        attempts = 5 if status == "failed" else 0 if status == "pending" else 1
        log = [
            {
                "attempt": k + 1,
                "at": (at + timedelta(seconds=2**k)).isoformat(),
                "status": "failed" if status == "failed" else "delivered",
                "status_code": 503 if status == "failed" else 200,
            }
            for k in range(attempts)
        ]
        rows.append(
            {
                "delivery_id": str(uuid.uuid4()),
                "subscription_id": sub_id,
                "event_id": str(uuid.uuid4()),
                "event_type": event_type,
                "project_code": code,
                "channel": channel,
                "target": f"https://hooks.example.com/{sub_id}",
                "status": status,
                "attempts": attempts,
                "error": "HTTP 503" if status == "failed" else None,
                "created_at": at,
                "at": at + timedelta(seconds=2 ** max(attempts - 1, 0)),
                "next_attempt_at": at if status == "pending" else None,
                "attempt_log": log,
                "retried_from": 0,
            }
        )

    for p in projects:
        e = index[p.credit_code]
        deliver(
            f"sub-e{e}-hook", "webhook", EventType.PROJECT_SUBMITTED.value, p.code, p.submitted_at
        )
        for t in p.tasks:
            if t.matter.department in NOTIFY_DEPARTMENTS:
                deliver(
                    f"sub-d-{t.matter.department}", "webhook", EventType.TASK_ASSIGNED.value,
                    p.code, t.assigned_at,
                )  # fmt: skip
            if t.supplement_asked_at:
                deliver(
                    f"sub-e{e}-hook", "webhook", EventType.PROJECT_SUPPLEMENT_REQUESTED.value,
                    p.code, t.supplement_asked_at,
                )  # fmt: skip
        if p.closed_at is not None and p.status != "filed":
            final = f"project.{p.status}"
            deliver(f"sub-e{e}-hook", "webhook", final, p.code, p.closed_at)
            if p.status in ("approved", "rejected"):
                deliver(f"sub-e{e}-mail", "email", final, p.code, p.closed_at)
            if p.status == "rejected":
                deliver("sub-ops-rejected", "webhook", final, p.code, p.closed_at)
            if p.status == "withdrawn":
                deliver("sub-ops-withdrawn", "email", final, p.code, p.closed_at)
    rows.sort(key=lambda r: r["created_at"])  # seq in the order they were created
    return {"deliveries": rows}


# --- seeding --------------------------------------------------------------------------------


APPROVAL_TABLES = {
    "projects": table_of(am.Project),
    "tasks": table_of(am.Task),
    "timeline": table_of(am.TimelineEntry),
}
SUPERVISION_TABLES = {
    "projects": table_of(sm.ProjectView),
    "tasks": table_of(sm.TaskView),
    "alerts": table_of(sm.Alert),
    "reports": table_of(sm.Report),
    "credit_records": table_of(sm.CreditRecord),
}
NOTIFY_TABLES = {"deliveries": table_of(nm.Delivery)}


def _write(conn: sa.Connection, tables: dict[str, sa.Table], rows: dict[str, list[Any]]) -> None:
    for name, table in tables.items():
        if rows.get(name):
            conn.execute(table.insert(), rows[name])


def seed(urls: dict[str, str], n: int, *, seed_value: int, now: datetime) -> Facts:
    world = World(n, now, seed_value)
    rng = random.Random(seed_value + 1)
    facts = Facts()
    ledger = CreditLedger()
    submissions: Counter[tuple[str, date, str]] = Counter()
    engines = {s: sa.create_engine(sync_url(url)) for s, url in urls.items()}
    started = time.perf_counter()
    try:
        for lo in range(0, n, CHUNK):
            projects = world.chunk(lo, min(lo + CHUNK, n))
            _note(facts, projects, submissions)
            approval = approval_rows(projects)
            supervision = supervision_rows(projects, now, rng, ledger)
            notify = notify_rows(projects, now, rng)
            reported = {r["project_code"] for r in supervision["reports"]}
            facts.reported_codes += [
                p.code for p in projects if p.credit_code == facts.enterprise and p.code in reported
            ]
            with engines["approval"].begin() as conn:
                _write(conn, APPROVAL_TABLES, approval)
            with engines["supervision"].begin() as conn:
                _write(conn, SUPERVISION_TABLES, supervision)
            with engines["notify"].begin() as conn:
                if lo == 0:
                    conn.execute(table_of(nm.Subscription).insert(), notify_subscriptions(now))
                _write(conn, NOTIFY_TABLES, notify)
            for service, rows in zip(SERVICES, (approval, supervision, notify), strict=True):
                for name, value in rows.items():
                    facts.counts[f"{service}.{name}"] += len(value)
        _finish(engines, world, ledger, submissions, now)
        if engines["approval"].dialect.name == "postgresql":
            for engine in engines.values():
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(sa.text("ANALYZE"))
    finally:
        for engine in engines.values():
            engine.dispose()
    print(
        f"seeded {n} projects in {time.perf_counter() - started:.1f} s: "
        + ", ".join(f"{count} {name}" for name, count in sorted(facts.counts.items())),
        flush=True,
    )
    return facts


def _note(
    facts: Facts, projects: Sequence[SeedProject], submissions: Counter[tuple[str, date, str]]
) -> None:
    for p in projects:
        day = p.submitted_at.date()
        submissions[("region", day, p.region)] += 1
        submissions[("industry", day, p.industry)] += 1
        facts.regions[p.region] += 1
        if p.credit_code == facts.enterprise:
            facts.enterprise_codes.append(p.code)
        if any(t.document_number for t in p.tasks) and len(facts.decided_codes) < 2_000:
            facts.decided_codes.append(p.code)
        for t in p.tasks:
            facts.department_tasks[t.matter.department] += 1
    facts.last_day = projects[-1].submitted_at.date()
    if not facts.counts:
        facts.first_day = projects[0].submitted_at.date()


def _finish(
    engines: dict[str, sa.Engine],
    world: World,
    ledger: CreditLedger,
    submissions: Counter[tuple[str, date, str]],
    now: datetime,
) -> None:
    """What the consumers keep beside the rows: serials, credit, statistics counters."""
    with engines["approval"].begin() as conn:
        conn.execute(
            table_of(am.CodeSequence).insert(),
            [{"prefix": k, "last_serial": v} for k, v in world.serials.items()],
        )
        conn.execute(
            table_of(am.DocumentSequence).insert(),
            [
                {"department": d, "year": y, "last_serial": v}
                for (d, y), v in world.documents.items()
            ],
        )
    states = []
    for code, records in ledger.records.items():
        status = credit_status(records, now=now)
        if status != "normal":
            states.append({"credit_code": code, "status": status, "since": ledger.first_at[code]})
    with engines["supervision"].begin() as conn:
        if states:
            conn.execute(table_of(sm.CreditState).insert(), states)
        conn.execute(
            table_of(sm.StatSubmission).insert(),
            [
                {"dimension": d, "day": day, "key": k, "count": c}
                for (d, day, k), c in submissions.items()
            ],
        )
        for select in _counter_selects():
            conn.execute(sa.text(f"INSERT INTO stat_counters (scope, metric, key, value) {select}"))
    with engines["approval"].begin() as conn:
        conn.execute(
            table_of(am.CreditStanding).insert(),
            [
                {"credit_code": s["credit_code"], "status": s["status"], "changed_at": s["since"],
                 "updated_at": s["since"]}
                for s in states
            ],
        )  # fmt: skip


def _counter_selects() -> tuple[str, ...]:
    migration = importlib.import_module(
        "supervision_svc.migrations.versions.0002_reports_rules_credit_stats"
    )
    counters: tuple[str, ...] = migration._COUNTERS  # the migration's backfill statements
    return counters


# --- measuring ------------------------------------------------------------------------------


Params = dict[str, str | int]


@dataclass
class Case:
    name: str
    service: str
    path: str | Callable[[int], str]
    params: Params | Callable[[int], Params] = field(default_factory=dict)
    token: str | None = None
    min_items: int = 1  # a page must hold at least this many items (the data is really read)
    budgeted: bool = True  # False: reported, but not held to the budget (see the README)

    def request(self, i: int) -> tuple[str, Params]:
        path = self.path(i) if callable(self.path) else self.path
        params = self.params(i) if callable(self.params) else self.params
        return path, params


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    p50: float
    p99: float
    items: int
    cpu_ms: float  # CPU of this process (app, driver threads, client) per request
    gc_full: int  # full (generation 2) garbage collections during the measured requests
    gc_max_ms: float  # the longest of them
    budgeted: bool


class GcWatch:
    """Records the duration of every full garbage collection (`gc.callbacks`)."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((time.perf_counter() - self._started) * 1000)


def _p(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100)[q - 1] if len(samples) > 1 else samples[0]


def _items(body: Any) -> int:
    if isinstance(body, dict):
        for key in ("items", "records", "open_alerts", "by_department"):
            if key in body:
                return len(body[key])
        return len(body)
    return len(body) if isinstance(body, list) else 1


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def _walk(
    client: httpx.AsyncClient, path: str, params: Params, token: str | None, *, rows: int
) -> list[str]:
    """Cursors of the pages after the first, following `next_cursor` with pages of
    `WALK_LIMIT` until about `rows` rows are behind (or the list ends)."""
    cursors: list[str] = []
    cursor: str | None = None
    seen = 0
    limit = WALK_LIMIT if rows >= 2 * WALK_LIMIT else 50  # a short list: smaller steps
    while seen < rows:
        query: Params = {**params, "limit": limit}
        if cursor is not None:
            query["cursor"] = cursor
        response = await client.get(path, params=query, headers=_headers(token))
        response.raise_for_status()
        body = response.json()
        seen += len(body["items"])
        cursor = body.get("next_cursor")
        if cursor is None:
            break
        cursors.append(cursor)
    return cursors


async def _pages(
    client: httpx.AsyncClient, path: str, params: Params, token: str | None, *, pages: int
) -> list[str]:
    """Cursors of pages 2 .. pages+1 of 50, by following `next_cursor`."""
    cursors: list[str] = []
    cursor: str | None = None
    for _ in range(pages):
        query: Params = dict(params)
        if cursor is not None:
            query["cursor"] = cursor
        response = await client.get(path, params=query, headers=_headers(token))
        response.raise_for_status()
        cursor = response.json().get("next_cursor")
        if cursor is None:
            break
        cursors.append(cursor)
    return cursors


async def _deep(
    client: httpx.AsyncClient, path: str, params: Params, token: str | None, total: int
) -> Callable[[int], Params]:
    """Params of pages deep in a list: the cursor `min(DEEP_ROWS, total/2)` rows in and
    the next few pages from there, in turn."""
    walked = await _walk(client, path, params, token, rows=min(DEEP_ROWS, total // 2))
    if not walked:
        raise RuntimeError(f"{path} {params}: no next_cursor on the first page")
    start = walked[-1]
    cursors = [start, *await _pages(client, path, {**params, "cursor": start}, token, pages=4)]
    return lambda i: {**params, "cursor": cursors[i % len(cursors)]}


async def _paged(
    client: httpx.AsyncClient, path: str, params: Params, token: str | None
) -> Callable[[int], Params]:
    """Params of pages 2-6 (of 50), in turn."""
    cursors = await _pages(client, path, params, token, pages=5)
    if not cursors:
        raise RuntimeError(f"{path} {params}: no next_cursor on the first page")
    return lambda i: {**params, "cursor": cursors[i % len(cursors)]}


def _cycle(values: Sequence[str], template: str) -> Callable[[int], str]:
    return lambda i: template.format(values[i * 7919 % len(values)])


def _tokens() -> dict[str, str]:
    ent = CREDIT_CODES[0]
    return {
        "ops": mint_token(SECRET, sub="bench-ops", role="ops"),
        "enterprise": mint_token(SECRET, sub="bench-ent", role="enterprise", credit_code=ent),
        "NDRC": mint_token(SECRET, sub="bench-ndrc", role="department", department="NDRC"),
        "NCHA": mint_token(SECRET, sub="bench-ncha", role="department", department="NCHA"),
    }


async def build_cases(clients: dict[str, httpx.AsyncClient], facts: Facts) -> list[Case]:
    tok = _tokens()
    ent, ops, ndrc, ncha = tok["enterprise"], tok["ops"], tok["NDRC"], tok["NCHA"]
    a, s, n = clients["approval"], clients["supervision"], clients["notify"]
    region = facts.regions.most_common(1)[0][0]
    rare_region = facts.regions.most_common()[-1][0]
    own = facts.enterprise_codes
    recent_own = own[-300:]
    reported = facts.reported_codes[-300:] or own[:300]
    decided = facts.decided_codes
    last = facts.last_day
    month_ago = (last - timedelta(days=29)).isoformat()
    year_ago = (last - timedelta(days=365)).isoformat()
    n_projects = sum(facts.regions.values())
    ent_share = len(own)
    projects, tasks_path = "/api/v1/projects", "/api/v1/departments/{}/tasks"
    results, alerts, deliveries = "/api/v1/public/results", "/api/v1/alerts", "/api/v1/deliveries"
    ndrc_tasks = tasks_path.format("NDRC")
    ncha_tasks = tasks_path.format("NCHA")
    cases = [
        # approval-svc
        Case("approval_projects_enterprise", "approval", projects, token=ent),
        Case("approval_projects_enterprise_p2_6", "approval", projects,
             await _paged(a, projects, {}, ent), token=ent),
        Case("approval_projects_enterprise_deep", "approval", projects,
             await _deep(a, projects, {}, ent, ent_share), token=ent),
        Case("approval_projects_enterprise_status", "approval", projects,
             {"status": "approved"}, token=ent),
        Case("approval_projects_ops", "approval", projects, token=ops),
        Case("approval_projects_ops_deep", "approval", projects,
             await _deep(a, projects, {}, ops, n_projects), token=ops),
        Case("approval_projects_ops_in_review", "approval", projects,
             {"status": "in_review"}, token=ops),
        Case("approval_projects_ops_region", "approval", projects,
             {"region_code": region}, token=ops),
        Case("approval_projects_ops_rare_region", "approval", projects,
             {"region_code": rare_region}, token=ops),
        Case("approval_projects_ops_procedure", "approval", projects,
             {"procedure": "verification"}, token=ops),
        Case("approval_projects_ops_region_deep", "approval", projects,
             await _deep(a, projects, {"region_code": region}, ops,
                         facts.regions[region]), token=ops),
        Case("approval_projects_ops_procedure_status", "approval", projects,
             {"procedure": "approval", "status": "rejected"}, token=ops),
        Case("approval_projects_department", "approval", projects, token=ndrc),
        Case("approval_projects_department_rare", "approval", projects, token=ncha),
        Case("approval_project", "approval", _cycle(recent_own, "/api/v1/projects/{}"),
             token=ent, min_items=0),
        Case("approval_timeline_enterprise", "approval",
             _cycle(own, "/api/v1/projects/{}/timeline"), token=ent),
        Case("approval_timeline_ops", "approval",
             _cycle(decided, "/api/v1/projects/{}/timeline"), token=ops),
        Case("approval_departments", "approval", "/api/v1/departments", token=ent),
        Case("approval_dept_tasks", "approval", ndrc_tasks, token=ndrc),
        Case("approval_dept_tasks_p2_6", "approval", ndrc_tasks,
             await _paged(a, ndrc_tasks, {}, ndrc), token=ndrc),
        Case("approval_dept_tasks_deep", "approval", ndrc_tasks,
             await _deep(a, ndrc_tasks, {}, ndrc, facts.department_tasks["NDRC"]), token=ndrc),
        Case("approval_dept_tasks_pending", "approval", ndrc_tasks,
             {"status": "pending"}, token=ndrc),
        Case("approval_dept_tasks_pending_p2_6", "approval", ndrc_tasks,
             await _paged(a, ndrc_tasks, {"status": "pending"}, ndrc), token=ndrc),
        Case("approval_dept_tasks_approved_deep", "approval", ndrc_tasks,
             await _deep(a, ndrc_tasks, {"status": "approved"}, ndrc,
                         facts.department_tasks["NDRC"]), token=ndrc),
        Case("approval_dept_tasks_rare", "approval", ncha_tasks, token=ncha),
        Case("approval_dept_tasks_ops", "approval", ndrc_tasks, {"status": "pending"}, token=ops),
        Case("approval_public_results", "approval", results),
        Case("approval_public_results_p2_6", "approval", results,
             await _paged(a, results, {}, None)),
        Case("approval_public_results_deep", "approval", results,
             await _deep(a, results, {}, None, facts.counts["approval.tasks"] // 2)),
        Case("approval_public_results_project", "approval", results,
             lambda i: {"project_code": decided[i * 7919 % len(decided)]}),
        # supervision-svc
        Case("supervision_overview", "supervision", "/api/v1/stats/overview", token=ops),
        Case("supervision_overview_department", "supervision", "/api/v1/stats/overview",
             token=ndrc),
        Case("supervision_alerts_open", "supervision", alerts,
             {"status": "open", "limit": 50}, token=ops),
        Case("supervision_alerts", "supervision", alerts, token=ops),
        Case("supervision_alerts_deep", "supervision", alerts,
             await _deep(s, alerts, {}, ops, facts.counts["supervision.alerts"] // 2), token=ops),
        Case("supervision_alerts_resolved_p2_6", "supervision", alerts,
             await _paged(s, alerts, {"status": "resolved"}, ops), token=ops),
        Case("supervision_alerts_red_open", "supervision", alerts,
             {"level": "red", "status": "open"}, token=ops),
        Case("supervision_alerts_kind", "supervision", alerts,
             {"kind": "progress_missing"}, token=ops),
        Case("supervision_alerts_enterprise", "supervision", alerts, token=ent),
        Case("supervision_alerts_enterprise_open", "supervision", alerts,
             {"status": "open"}, token=ent),
        Case("supervision_alerts_enterprise_deep", "supervision", alerts,
             await _deep(s, alerts, {}, ent, facts.counts["supervision.alerts"] // 12), token=ent),
        Case("supervision_alerts_department", "supervision", alerts, token=ndrc),
        Case("supervision_alerts_department_open", "supervision", alerts,
             {"status": "open"}, token=ndrc),
        Case("supervision_alerts_project", "supervision", alerts,
             lambda i: {"project_code": own[i * 7919 % len(own)]}, token=ent, min_items=0),
        Case("supervision_submissions_region", "supervision", "/api/v1/stats/submissions",
             {"from": month_ago, "to": last.isoformat(), "by": "region"}, token=ops),
        Case("supervision_submissions_industry", "supervision", "/api/v1/stats/submissions",
             {"from": month_ago, "to": last.isoformat(), "by": "industry"}, token=ops),
        Case("supervision_submissions_region_year", "supervision", "/api/v1/stats/submissions",
             {"from": year_ago, "to": last.isoformat(), "by": "region"}, token=ops,
             budgeted=False),
        Case("supervision_dishonest", "supervision", "/api/v1/public/credit/dishonest",
             min_items=0),
        Case("supervision_credit", "supervision",
             f"/api/v1/enterprises/{facts.enterprise}/credit", token=ent, min_items=0),
        Case("supervision_reports", "supervision",
             _cycle(reported, "/api/v1/projects/{}/reports"), token=ent),
        Case("supervision_project_view", "supervision",
             _cycle(reported, "/api/v1/projects/{}/supervision"), token=ent, min_items=0),
        # notify-svc
        Case("notify_deliveries_ops", "notify", deliveries, token=ops),
        Case("notify_deliveries_ops_deep", "notify", deliveries,
             await _deep(n, deliveries, {}, ops, facts.counts["notify.deliveries"]), token=ops),
        Case("notify_deliveries_failed", "notify", deliveries, {"status": "failed"}, token=ops),
        Case("notify_deliveries_enterprise", "notify", deliveries, token=ent),
        Case("notify_deliveries_enterprise_p2_6", "notify", deliveries,
             await _paged(n, deliveries, {}, ent), token=ent),
        Case("notify_deliveries_subscription", "notify", deliveries,
             {"subscription_id": "sub-e0-mail"}, token=ent),
        Case("notify_deliveries_project", "notify", deliveries,
             lambda i: {"project_code": recent_own[i * 7919 % len(recent_own)]}, token=ent),
        Case("notify_deliveries_department", "notify", deliveries, token=ncha),
        Case("notify_subscriptions_ops", "notify", "/api/v1/subscriptions", token=ops),
        Case("notify_subscriptions_enterprise", "notify", "/api/v1/subscriptions", token=ent),
    ]  # fmt: skip
    return cases


async def run_case(client: httpx.AsyncClient, case: Case, requests: int, watch: GcWatch) -> Result:
    samples: list[float] = []
    items = 0
    cpu = 0.0
    for i in range(-WARMUP, requests):
        if i == 0:
            watch.pauses.clear()
            cpu = time.process_time()
        path, params = case.request(i)
        headers = _headers(case.token)
        started = time.perf_counter()
        response = await client.get(path, params=params, headers=headers)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(
                f"{case.name}: {path} {params} -> {response.status_code} {response.text[:300]}"
            )
        if i == 0:
            items = _items(response.json())
            if items < case.min_items:
                raise RuntimeError(f"{case.name}: {path} {params} returned {items} items")
        if i >= 0:
            samples.append(elapsed)
    cpu_ms = (time.process_time() - cpu) * 1000 / requests
    return Result(
        case.name,
        round(_p(samples, 50), 2),
        round(_p(samples, 99), 2),
        items,
        round(cpu_ms, 2),
        len(watch.pauses),
        round(max(watch.pauses, default=0.0), 1),
        case.budgeted,
    )


def make_apps(urls: dict[str, str]) -> dict[str, FastAPI]:
    common: dict[str, object] = {"jwt_secret": SECRET, "log_json": False}
    return {
        "approval": create_approval_app(
            get_approval_settings(database_url=urls["approval"], **common), consume=False
        ),
        "supervision": create_supervision_app(
            get_supervision_settings(database_url=urls["supervision"], **common)
        ),
        "notify": create_notify_app(get_notify_settings(database_url=urls["notify"], **common)),
    }


async def measure(
    urls: dict[str, str], facts: Facts, requests: int, only: str | None, *, gc_freeze: bool
) -> list[Result]:
    apps = make_apps(urls)
    clients = {
        name: httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=f"http://{name}", timeout=120
        )
        for name, app in apps.items()
    }
    results = []
    try:
        started = time.perf_counter()
        cases = await build_cases(clients, facts)
        print(f"walked to the deep pages in {time.perf_counter() - started:.1f} s", flush=True)
        gc.collect()
        if gc_freeze:  # what a gc.freeze() after start-up in the services would give
            gc.freeze()
        print(
            f"{'endpoint':<44} {'p50 ms':>8} {'p99 ms':>8} {'cpu ms':>7} {'items':>6}"
            f" {'full gc':>7} {'gc max ms':>9}",
            flush=True,
        )
        watch = GcWatch()
        gc.callbacks.append(watch)
        for case in cases:
            if only and only not in case.name:
                continue
            r = await run_case(clients[case.service], case, requests, watch)
            flag = (" OVER" if r.p99 > BUDGET_MS else "") + ("" if r.budgeted else " (info)")
            print(
                f"{r.name:<44} {r.p50:8.2f} {r.p99:8.2f} {r.cpu_ms:7.2f} {r.items:6d}"
                f" {r.gc_full:7d} {r.gc_max_ms:9.1f}{flag}",
                flush=True,
            )
            results.append(r)
        gc.callbacks.remove(watch)
    finally:
        for client in clients.values():
            await client.aclose()
        for app in apps.values():
            runtime = app.state.runtime
            if runtime.read_engine is not runtime.engine:
                await runtime.read_engine.dispose()
            await runtime.engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="projects to seed")
    parser.add_argument("--requests", type=int, default=300, help="measured requests per case")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", default=None, help="run only the cases whose name has this")
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() the start-up heap before measuring (what the services would get)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="SQLite only: keep the databases here and reuse them when already seeded",
    )
    args = parser.parse_args()
    terminate_on_sigterm()
    now = datetime.now(UTC).replace(microsecond=0)
    with fresh_databases(args.database, SERVICES, workdir=args.workdir) as urls:
        reuse = args.workdir is not None and (args.workdir / "seeded").exists()
        for service, url in urls.items():
            upgrade(MIGRATIONS[service], url)
        if reuse:
            assert args.workdir is not None
            facts = _load_facts(args.workdir / "seeded")
        else:
            facts = seed(urls, args.n, seed_value=args.seed, now=now)
            if args.workdir is not None:
                _save_facts(args.workdir / "seeded", facts)
        results = asyncio.run(
            measure(urls, facts, args.requests, args.only, gc_freeze=args.gc_freeze)
        )
    held = [r for r in results if r.budgeted] or results
    worst = max(held, key=lambda r: r.p99)
    over = [r.name for r in held if r.p99 > BUDGET_MS]
    print(
        f"slowest: {worst.name} p99 {worst.p99} ms (budget {BUDGET_MS:g} ms); "
        f"over the budget: {', '.join(over) or 'none'}"
    )
    print(
        f"RESULT reads_max_p99_ms={worst.p99} "
        + " ".join(f"{r.name}_p99_ms={r.p99}" for r in results)
    )


def _save_facts(path: Path, facts: Facts) -> None:
    data = {
        name: value.isoformat() if isinstance(value, date) else value
        for name, value in ((f, getattr(facts, f)) for f in Facts.__dataclass_fields__)
    }
    path.write_text(json.dumps(data))


def _load_facts(path: Path) -> Facts:
    data = json.loads(path.read_text())
    return Facts(
        enterprise=data["enterprise"],
        enterprise_codes=data["enterprise_codes"],
        reported_codes=data["reported_codes"],
        decided_codes=data["decided_codes"],
        regions=Counter(data["regions"]),
        department_tasks=Counter(data["department_tasks"]),
        first_day=date.fromisoformat(data["first_day"]),
        last_day=date.fromisoformat(data["last_day"]),
        counts=Counter(data["counts"]),
    )


if __name__ == "__main__":
    main()
