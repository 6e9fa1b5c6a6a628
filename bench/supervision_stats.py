"""Statistics benchmark: p99 latency of the overview and of the alert list over 100,000 projects.

    uv run python -m bench.supervision_stats [--n 100000] [--requests 300] [--database URL]

Seeds a fresh supervision database (SQLite in a temporary folder unless `--database` names a
PostgreSQL one) with N projects, one task each, an alert on every fifth project, and the
statistics counters those rows add up to (the rows the consumers keep up to date event by event),
then calls `GET /api/v1/stats/overview` and `GET /api/v1/alerts` through the real app (ASGI,
in-process) and prints their p50/p99.
The last line is ``RESULT overview_p99_ms=.. alerts_p99_ms=..``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import httpx
import sqlalchemy as sa

import supervision_svc
from shared.auth import mint_token
from shared.db import sync_url
from shared.migrations import upgrade
from shared.topics import DEPARTMENT_CODES
from supervision_svc.app import create_app
from supervision_svc.settings import get_supervision_settings

SECRET = "bench-secret-bench-secret-bench-secret"
MIGRATIONS = Path(supervision_svc.__file__).parent / "migrations"
STATUSES = ("in_review", "approved", "filed", "rejected", "withdrawn", "supplement_required")
KINDS = ("approval_overdue", "start_overdue", "progress_missing", "progress_behind")


def seed(url: str, n: int) -> None:
    engine = sa.create_engine(sync_url(url))
    meta = sa.MetaData()
    meta.reflect(engine, only=["projects", "tasks", "alerts", "stat_counters", "stat_submissions"])
    projects, tasks, alerts = meta.tables["projects"], meta.tables["tasks"], meta.tables["alerts"]
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    started = time.perf_counter()
    with engine.begin() as conn:
        for lo in range(0, n, 10_000):
            p_rows, t_rows, a_rows = [], [], []
            for i in range(lo, min(lo + 10_000, n)):
                code = f"2501-{110000 + i % 300:06d}-04-01-{i:06d}"
                dept = DEPARTMENT_CODES[i % len(DEPARTMENT_CODES)]
                at = t0 + timedelta(minutes=i)
                p_rows.append(
                    {
                        "project_code": code,
                        "credit_code": f"91{i:016d}",
                        "name": f"Project {i}",
                        "status": STATUSES[i % len(STATUSES)],
                        "procedure": "filing",
                        "region_code": f"{110000 + i % 300:06d}",
                        "industry_code": f"C{i % 40:02d}",
                        "submitted_at": at,
                        "updated_at": at,
                        "version_at": at,
                        "started_before_approval": False,
                    }
                )
                t_rows.append(
                    {
                        "task_id": f"t-{i}",
                        "project_code": code,
                        "department": dept,
                        "matter_code": f"{dept}-M",
                        "matter_name": "matter",
                        "status": "pending" if i % 3 else "approved",
                        "assigned_at": at,
                        "due_at": at + timedelta(days=20),
                        "yellow_at": at + timedelta(days=18),
                        "decided_at": None if i % 3 else at + timedelta(days=5),
                        "decision_seconds": None if i % 3 else 5 * 86400.0,
                        "version_at": at,
                    }
                )
                if i % 5 == 0:
                    kind = KINDS[i % len(KINDS)]
                    a_rows.append(
                        {
                            "alert_id": str(uuid.uuid4()),
                            "project_code": code,
                            "kind": kind,
                            "level": "red" if i % 2 else "yellow",
                            "raised_at": at,
                            "detail": "bench",
                            "department": dept if kind == "approval_overdue" else None,
                            "task_id": f"t-{i}" if kind == "approval_overdue" else None,
                            "open_key": f"{kind}:{code}",
                        }
                    )
            conn.execute(projects.insert(), p_rows)
            conn.execute(tasks.insert(), t_rows)
            conn.execute(alerts.insert(), a_rows)
    # The counters these rows add up to (what the handlers keep event by event), filled by the
    # same statements the migration uses for rows that predate the counters.
    with engine.begin() as conn:
        for select in _counter_selects():
            conn.execute(sa.text(f"INSERT INTO stat_counters (scope, metric, key, value) {select}"))
    print(f"seeded {n} projects in {time.perf_counter() - started:.1f} s", flush=True)
    engine.dispose()


def _counter_selects() -> tuple[str, ...]:
    import importlib

    migration = importlib.import_module(
        "supervision_svc.migrations.versions.0002_reports_rules_credit_stats"
    )
    counters: tuple[str, ...] = migration._COUNTERS  # the migration's backfill statements
    return counters


def _p(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100)[q - 1] if len(samples) > 1 else samples[0]


async def measure(url: str, requests: int) -> dict[str, float]:
    settings = get_supervision_settings(database_url=url, jwt_secret=SECRET, log_json=False)
    app = create_app(settings)
    ops = {"Authorization": "Bearer " + mint_token(SECRET, sub="bench", role="ops")}
    results: dict[str, float] = {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        cases: tuple[tuple[str, str, dict[str, str | int]], ...] = (
            ("overview", "/api/v1/stats/overview", {}),
            ("alerts", "/api/v1/alerts", {"status": "open", "limit": 50}),
        )
        for name, path, params in cases:
            samples = []
            for _ in range(requests):
                started = time.perf_counter()
                response = await client.get(path, headers=ops, params=params)
                samples.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
            results[f"{name}_p50_ms"] = round(_p(samples, 50), 2)
            results[f"{name}_p99_ms"] = round(_p(samples, 99), 2)
    await app.state.runtime.engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--database", default=None, help="database URL (default: fresh SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database or f"sqlite:///{folder}/supervision-bench.db"
        upgrade(MIGRATIONS, url)
        seed(url, args.n)
        results = asyncio.run(measure(url, args.requests))
    for key, value in results.items():
        print(f"{key}: {value}")
    print(
        f"RESULT overview_p99_ms={results['overview_p99_ms']} "
        f"alerts_p99_ms={results['alerts_p99_ms']}"
    )


if __name__ == "__main__":
    main()
