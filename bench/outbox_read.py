"""Outbox read benchmark: what the relay's read of unsent rows costs as sent rows pile up.

    uv run python -m bench.outbox_read [--rows 50000] [--database postgres|sqlite]

The relay reads the oldest unsent rows (`shared.relay.unsent_batch`) and marks them sent. On
PostgreSQL marking a row sent leaves its old entry in the unsent index until a vacuum: a
bitmap scan visits every such entry again on every read, a plain index scan marks them dead
once and skips them after (`shared.db.make_relay_engine`). This replays the relay's rounds on
two fresh databases side by side: insert a batch, read the unsent rows, mark them sent. One
reads on a connection with the planner's full choice, the other on the relay's own engine.
Autovacuum is off for the outbox table, so the run shows a stretch between two vacuums; the
rows are the size of the platform's events (1.5 kB of payload).

The last line is ``RESULT rows=.. batch=.. planner_first_ms=.. planner_last_ms=..
relay_first_ms=.. relay_last_ms=..`` (one line; the mean read time over the first and the
last tenth of the rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.reads.databases import fresh_databases
from shared.db import OutboxMessage, make_engine, make_relay_engine, sync_url, table_of
from shared.events import EventType
from shared.migrations import create_platform_tables_in
from shared.relay import unsent_batch
from shared.topics import APPROVAL_PROJECTS

_OUTBOX = table_of(OutboxMessage)
PAYLOAD = os.urandom(1500)


def create_tables(url: str) -> None:
    create_platform_tables_in(url)
    engine = sa.create_engine(sync_url(url))
    try:
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(sa.text("ALTER TABLE outbox SET (autovacuum_enabled = off)"))
    finally:
        engine.dispose()


class Relayed:
    """One database and the engine its rounds read on."""

    def __init__(self, name: str, writer: AsyncEngine, reader: AsyncEngine) -> None:
        self.name = name
        self.writer = writer
        self.reader = reader
        self.reads_ms: list[float] = []
        self._serial = 0

    async def round(self, batch: int) -> None:
        now = datetime.now(UTC)
        rows = [
            {
                "event_id": f"e-{self._serial + i}",
                "event_type": EventType.TASK_ASSIGNED,
                "topic": APPROVAL_PROJECTS,
                "message_key": f"P-{(self._serial + i) % 997}",
                "payload": PAYLOAD,
                "created_at": now,
            }
            for i in range(batch)
        ]
        self._serial += batch
        async with self.writer.begin() as conn:
            await conn.execute(sa.insert(_OUTBOX), rows)
        async with self.reader.connect() as conn:
            started = time.perf_counter()
            unsent = (await conn.execute(unsent_batch(batch))).all()
            self.reads_ms.append((time.perf_counter() - started) * 1000)
            await conn.rollback()
        async with self.reader.begin() as conn:
            ids = [row.id for row in unsent]
            await conn.execute(sa.update(_OUTBOX).where(_OUTBOX.c.id.in_(ids)).values(sent_at=now))

    def mean(self, part: slice) -> float:
        return statistics.fmean(self.reads_ms[part])


async def run(urls: dict[str, str], rows: int, batch: int) -> dict[str, Any]:
    writers = {name: make_engine(url) for name, url in urls.items()}
    variants = [
        Relayed("planner", writers["planner"], writers["planner"]),
        Relayed("relay", writers["relay"], make_relay_engine(urls["relay"], writers["relay"])),
    ]
    rounds = max(rows // batch, 10)
    tenth = max(rounds // 10, 1)
    try:
        print(f"{'rows sent':>10}  " + "  ".join(f"{v.name + ' read ms':>16}" for v in variants))
        for n in range(1, rounds + 1):
            for variant in variants:  # side by side: the machine's drift hits both
                await variant.round(batch)
            if n % tenth == 0:
                means = "  ".join(f"{v.mean(slice(-tenth, None)):16.2f}" for v in variants)
                print(f"{n * batch:10d}  {means}", flush=True)
    finally:
        for variant in variants:
            if variant.reader is not variant.writer:
                await variant.reader.dispose()
        for engine in writers.values():
            await engine.dispose()
    first, last = slice(0, tenth), slice(-tenth, None)
    planner, relay = variants
    return {
        "rows": rounds * batch,
        "batch": batch,
        "planner_first_ms": round(planner.mean(first), 2),
        "planner_last_ms": round(planner.mean(last), 2),
        "relay_first_ms": round(relay.mean(first), 2),
        "relay_last_ms": round(relay.mean(last), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000, help="rows sent in all (50000)")
    parser.add_argument("--batch", type=int, default=500, help="rows per round (500)")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="postgres")
    args = parser.parse_args()
    with fresh_databases(args.database, ["planner", "relay"], prefix="bench_outbox") as urls:
        for url in urls.values():
            create_tables(url)
        result = asyncio.run(run(urls, args.rows, args.batch))
    print("RESULT " + " ".join(f"{key}={value}" for key, value in result.items()), flush=True)


if __name__ == "__main__":
    main()
