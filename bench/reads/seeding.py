"""Seeding: the world's rows written chunk by chunk into each service's database, then
what the consumers keep beside them (serials, credit, statistics counters)."""

from __future__ import annotations

import importlib
import random
import time
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from approval_svc import models as am
from bench.reads.rows_approval import approval_rows
from bench.reads.rows_notify import notify_rows, notify_subscriptions
from bench.reads.rows_supervision import CreditLedger, supervision_rows
from bench.reads.world import Facts, SeedProject, World
from notify_svc import models as nm
from shared.db import sync_url, table_of
from supervision_svc import models as sm
from supervision_svc.domain.credit import credit_status

SERVICES = ("approval", "supervision", "notify")
CHUNK = 5_000  # projects generated and written per transaction


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
