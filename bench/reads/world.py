"""The world the read benchmark seeds: profiles, projects and their tasks, generated
deterministically, and the facts the cases need about it."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from approval_svc.catalogue_file import load_catalogue
from approval_svc.domain.catalogue import Matter
from approval_svc.domain.identifiers import _region_known, code_prefix, make_project_code
from approval_svc.domain.routing import route
from approval_svc.domain.workdays import CHINA_TZ
from approval_svc.schemas import ProjectIn
from services.samples import CREDIT_CODES, PROFILES

SPAN_DAYS = 730  # projects submitted over the last two years
INDUSTRIES = (
    "A0111", "B0610", "C1310", "C1511", "C1713", "C2211", "C2614", "C2710", "C2929", "C3011",
    "C3120", "C3311", "C3411", "C3511", "C3612", "C3720", "C3841", "C3911", "C4011", "D4411",
    "D4415", "D4420", "D4430", "E4710", "E4811", "E4910", "F5111", "G5411", "G5810", "H6110",
    "I6311", "I6510", "K7010", "L7211", "M7320", "N7610", "N7850", "P8331", "Q8411", "R8810",
)  # fmt: skip


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
