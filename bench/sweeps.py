"""Sweep benchmark: one construction sweep over N approved projects whose check has come.

    uv run python -m bench.sweeps [--n 20000] [--database sqlite|postgres]

Seeds a fresh supervision database (SQLite in a temporary folder, or a PostgreSQL database
it creates and drops) with N approved projects whose `next_check_at` has come and whose planned
start is still ahead (so the sweep raises no alert and each check moves only the next check),
then runs `handlers.sweep_construction` once, as the scheduler does, with the service's own
unit of work, and counts the statements it sends. The last line is
``RESULT projects=.. seconds=.. projects_per_s=.. update_statements=.. executemany=..``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import sqlalchemy as sa
from sqlalchemy import event

import supervision_svc
from bench.reads.databases import fresh_databases
from shared.db import make_engine, make_session_factory, sync_url
from shared.migrations import upgrade
from shared.outbox import UnitOfWork as OutboxUnitOfWork
from supervision_svc.domain.thresholds import DEFAULT_THRESHOLDS
from supervision_svc.handlers.sweeps import sweep_construction
from supervision_svc.unit_of_work import SqlUnitOfWork

MIGRATIONS = Path(supervision_svc.__file__).parent / "migrations"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def seed(url: str, n: int) -> None:
    engine = sa.create_engine(sync_url(url))
    projects = sa.Table("projects", sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        for lo in range(0, n, 10_000):
            conn.execute(
                projects.insert(),
                [
                    {
                        "project_code": f"2603-{110000 + i % 300:06d}-04-01-{i:06d}",
                        "credit_code": f"91{i:016d}",
                        "status": "approved",
                        "procedure": "approval",
                        "region_code": f"{110000 + i % 300:06d}",
                        "submitted_at": T0,
                        "updated_at": T0,
                        "version_at": T0,
                        "cleared_at": T0,
                        "planned_start": date(2027, 1, 1),
                        "started_before_approval": False,
                        "next_check_at": T0,
                    }
                    for i in range(lo, min(lo + 10_000, n))
                ],
            )
    engine.dispose()


async def sweep(url: str) -> dict[str, Any]:
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    updates: list[bool] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("UPDATE PROJECTS"):
            updates.append(many)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    started = time.perf_counter()
    checked = await sweep_construction(
        uow_factory=lambda: SqlUnitOfWork(OutboxUnitOfWork(sessions)),
        now=T0 + timedelta(days=1),
        rules=DEFAULT_THRESHOLDS,
    )
    seconds = time.perf_counter() - started
    await engine.dispose()
    return {
        "projects": checked,
        "seconds": round(seconds, 2),
        "projects_per_s": round(checked / seconds),
        "update_statements": len(updates),
        "executemany": sum(updates),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    with fresh_databases(args.database, ["supervision"], prefix="bench_sweep") as urls:
        url = urls["supervision"]
        upgrade(MIGRATIONS, url)
        seed(url, args.n)
        result = asyncio.run(sweep(url))
    print("RESULT " + " ".join(f"{key}={value}" for key, value in result.items()), flush=True)


if __name__ == "__main__":
    main()
