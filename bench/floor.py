"""The floor: what one approved project costs in CPU with the required stack, when nothing but
the work the contract makes unavoidable is done, in large batches.

`make bench` measures what the platform spends per project (17-20 ms of CPU at saturation on
2 vCPU). Whether 300 projects/s can be reached on the same machine depends on how far that is
from what the stack itself costs: 300/s on 2 cores leaves 6.67 ms of CPU per project for
every process together. This benchmark measures, in one run, on this machine, the unit costs
of the pieces no implementation with this stack can avoid, and adds them up per project with
the counts of `FLOW`:

- one HTTP submission: uvicorn on uvloop and httptools (as the services run), a FastAPI route
  that validates the real request model (`approval_svc.schemas.ProjectIn`) and answers 201 with
  a JSON body; no authentication, no database: the server process's CPU per request;
- every event produced (14): built and serialised as a CloudEvent (`shared.events`), sent on
  uvloop by aiokafka (acks=all, linger 2 ms, as `shared.kafka`) 500 at a time, plus the
  broker's CPU for taking it; in the project's mix of sizes (2 carry the project with its
  tasks, 12 a task);
- every event read (30): fetched by aiokafka (`getmany` of up to 500, aiokafka's default fetch
  sizes, as the services) and parsed as a CloudEvent, plus the broker's CPU for serving it;
- every row written (58): one SQLAlchemy Core executemany per 500 rows, commit included, on
  the services' SQLite engine (`shared.db.make_engine`: the same driver and pragmas); rows of
  an event's size (the outbox table, a task event as payload) and of an id's size (the
  processed-event table).

What is left out makes it a floor, not an estimate: the domain rules, JWTs, the projections'
reads and updates, every per-transaction and per-batch cost beyond one per 500, the
department systems' kafka-python clients (counted at aiokafka's cost), the benchmark's own
load generator and tracker, and PostgreSQL. Where a count could go either way the larger is
taken (approval's serialisations, not the events it builds; every small row at an id's size
is the other way). The last line is

    FLOOR cpu_ms_per_project=<x> budget_ms_at_300=<y> max_projects_per_s=<cores * 1000 / x>

    uv run python -m bench.floor            # about 10 s
    uv run python -m bench.floor --events 40000 --rows 40000 --requests 8000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psutil
import uvloop
from fastapi import FastAPI
from fastapi.responses import Response

from approval_svc.schemas import ProjectIn
from bench.harness import process_cpu_seconds
from services.broker import EmbeddedBroker, free_port, port_accepts
from services.samples import three_department_project
from shared.broker import ensure_topics
from shared.events import (
    APPROVAL_SOURCE,
    CloudEvent,
    EventType,
    ProjectData,
    TaskData,
    new_event,
)
from shared.topics import APPROVAL_PROJECTS

# What each process does per approved project of the benchmark (three departments), from the
# contract's topics. approval.projects carries project.submitted, 3 x approval.task.assigned,
# 3 x approval.decision.recorded and project.approved (8); approval.tasks.<DEPT> the 3 tasks;
# approval.decisions the 3 decisions, sent by the department systems. approval.projects is
# read by supervision's projection and by notify twice (its consumer and its stream history).
# Events are measured in that mix: 2 of the 14 carry a project with its tasks, 12 a task or a
# decision. Approval builds 8 events and serialises 11 (a task goes to two topics): counted 11.
# Rows at least, in two kinds. An event's size: approval's 11 outbox rows, notify's 8 history
# rows. An id's size: approval's project, 3 tasks and Idempotency-Key (5), 11 outbox rows
# marked sent, 3 tasks and the project updated as decided (4), the ids of the 3 decisions it
# applied (3); supervision's 8 ids; notify's 8 ids.
FLOW: dict[str, dict[str, int]] = {
    "approval-svc": {
        "http": 1, "encode": 11, "produce": 11, "fetch": 3, "decode": 3, "row": 11, "id_row": 23,
    },
    "supervision-svc": {"fetch": 8, "decode": 8, "id_row": 8},
    "notify-svc": {"fetch": 16, "decode": 16, "row": 8, "id_row": 8},
    "departments": {"fetch": 3, "decode": 3, "encode": 3, "produce": 3},
    "broker": {"broker_in": 14, "broker_out": 30},
}  # fmt: skip
TARGET_PER_S = 300


@dataclass(frozen=True, slots=True)
class Cost:
    piece: str  # a key of FLOW's counts
    name: str
    unit_us: float  # CPU microseconds per unit

    @property
    def per_project(self) -> int:
        return sum(counts.get(self.piece, 0) for counts in FLOW.values())

    @property
    def ms_per_project(self) -> float:
        return self.unit_us * self.per_project / 1000


def project_event(rng: random.Random) -> CloudEvent:
    """A `project.approved` as approval publishes it: the project with its three tasks."""
    body = three_department_project(rng)
    now = datetime.now(UTC)
    code = f"2026-310115-38-02-{rng.randrange(10**6):06d}"
    tasks = [
        TaskData(
            task_id=f"{code}-{dept}",
            project_code=code,
            department=dept,
            matter_code=f"{dept}-001",
            matter_name=f"{dept} approval matter for an industrial plant",
            status="approved",
            assigned_at=now,
            due_at=now + timedelta(days=20),
            promised_due_at=now + timedelta(days=15),
            decided_at=now,
            decision="approved",
            opinion="Approved: the materials meet the requirements.",
            document_number=f"{dept}[2026]{rng.randrange(10**4)}",
            legal_limit_days=20,
            promised_limit_days=15,
        )
        for dept in ("NDRC", "MEE", "MOHURD")
    ]
    data = ProjectData(
        project_code=code,
        credit_code="91310000MA1FL8XQ30",
        status="approved",
        submitted_at=now,
        updated_at=now,
        tasks=tasks,
        **{k: v for k, v in body.items() if k in ProjectData.model_fields},
    )
    return new_event(
        type=EventType.PROJECT_APPROVED, source=APPROVAL_SOURCE, subject=code, data=data
    )


def task_event(project: CloudEvent, n: int) -> CloudEvent:
    """An `approval.task.assigned`: one task of `project`."""
    task = project.data["tasks"][n % 3]
    return new_event(
        type=EventType.TASK_ASSIGNED, source=APPROVAL_SOURCE, subject=project.subject, data=task
    )


def event_mix(rng: random.Random) -> list[CloudEvent]:
    """One project's 14 events by size: 2 carry the project with its tasks, 12 a task (the
    decisions are about a task's size)."""
    project = project_event(rng)
    return [project, project] + [task_event(project, n) for n in range(12)]


def own_cpu() -> float:
    return time.process_time()  # every thread of this process (aiosqlite's included)


def codec_costs(mix: list[CloudEvent], n: int) -> tuple[Cost, Cost]:
    raws = [event.to_json() for event in mix]
    started = own_cpu()
    for i in range(n):
        event = mix[i % len(mix)]
        new_event(
            type=event.type, source=event.source, subject=event.subject, data=event.data
        ).to_json()
    encode = (own_cpu() - started) / n * 1e6
    started = own_cpu()
    for i in range(n):
        CloudEvent.from_json(raws[i % len(raws)])
    decode = (own_cpu() - started) / n * 1e6
    return (
        Cost("encode", "build and serialise an event (pydantic)", encode),
        Cost("decode", "parse an event (pydantic)", decode),
    )


async def kafka_costs(broker: EmbeddedBroker, payloads: list[bytes], n: int) -> list[Cost]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    topic = "floor.events"
    await asyncio.to_thread(ensure_topics, broker.bootstrap, [topic], 6)
    assert broker.pid is not None
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap, acks="all", linger_ms=2, max_batch_size=512 * 1024
    )
    await producer.start()
    try:
        keys = [f"2026-310115-38-02-{i % 5000:06d}".encode() for i in range(n)]
        mine, theirs = own_cpu(), process_cpu_seconds(broker.pid)
        for start in range(0, n, 500):
            sends = [
                producer.send(topic, payloads[i % len(payloads)], key=keys[i])
                for i in range(start, min(start + 500, n))
            ]
            await asyncio.gather(*[await s for s in sends])
        produce = (own_cpu() - mine) / n * 1e6
        broker_in = (process_cpu_seconds(broker.pid) - theirs) / n * 1e6
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False,
        fetch_max_wait_ms=100,  # fetch sizes: aiokafka's defaults, as the services'
    )  # fmt: skip
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(6)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen = 0
        mine, theirs = own_cpu(), process_cpu_seconds(broker.pid)
        while seen < n:
            batches = await consumer.getmany(timeout_ms=1000, max_records=500)
            seen += sum(len(records) for records in batches.values())
        consume = (own_cpu() - mine) / n * 1e6
        broker_out = (process_cpu_seconds(broker.pid) - theirs) / n * 1e6
    finally:
        await consumer.stop()
    return [
        Cost("produce", "produce an event (aiokafka, batches)", produce),
        Cost("broker_in", "the broker takes an event", broker_in),
        Cost("fetch", "fetch an event (aiokafka getmany of 500)", consume),
        Cost("broker_out", "the broker serves an event", broker_out),
    ]


async def row_costs(payload: bytes, n: int, workdir: Path) -> list[Cost]:
    from sqlalchemy import insert
    from sqlmodel import SQLModel

    from shared.db import OutboxMessage, ProcessedEvent, make_engine, table_of, use_wal

    url = f"sqlite+aiosqlite:///{workdir / 'floor.db'}"
    engine = make_engine(url)
    outbox, ids = table_of(OutboxMessage), table_of(ProcessedEvent)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all, tables=[outbox, ids])
        use_wal(url)
        now = datetime.now(UTC)
        event_rows = [
            {
                "event_id": f"{i:032x}",
                "event_type": EventType.TASK_ASSIGNED.value,
                "topic": APPROVAL_PROJECTS,
                "message_key": f"2026-310115-38-02-{i:06d}",
                "payload": payload,
                "created_at": now,
            }
            for i in range(n)
        ]
        id_rows = [
            {"consumer": "approval-projection", "event_id": f"{i:032x}", "processed_at": now}
            for i in range(n)
        ]
        costs = []
        for piece, name, table, rows in (
            ("row", "write a row of an event's size (SQLite)", outbox, event_rows),
            ("id_row", "write a row of an id's size (SQLite)", ids, id_rows),
        ):
            statement = insert(table)
            started = own_cpu()
            for start in range(0, n, 500):
                async with engine.begin() as conn:
                    await conn.execute(statement, rows[start : start + 500])
            costs.append(Cost(piece, name, (own_cpu() - started) / n * 1e6))
        return costs
    finally:
        await engine.dispose()


# --- HTTP: a server process serving the cheapest honest submission route ----------------------


def http_app() -> FastAPI:
    """The route the server process serves: the real request model, a 201 with JSON."""
    app = FastAPI()

    @app.post("/api/v1/projects", status_code=201)
    async def submit(body: ProjectIn) -> Response:
        answer = body.model_dump(mode="json") | {"project_code": "2026-310115-38-02-000001"}
        return Response(orjson.dumps(answer), status_code=201, media_type="application/json")

    return app


async def _post_all(url: str, bodies: list[bytes], concurrency: int) -> int:
    import aiohttp

    ok = 0
    queue = list(reversed(bodies))
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:

        async def worker() -> None:
            nonlocal ok
            while queue:
                body = queue.pop()
                async with s.post(url, data=body, headers=headers) as response:
                    await response.read()
                    ok += response.status == 201

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ok


def http_cost(n: int, *, rng: random.Random) -> Cost:
    port = free_port("127.0.0.1")
    server = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "bench.floor:http_app", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop",
            "--http", "httptools", "--no-access-log", "--log-level", "warning",
        ],
        cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/api/v1/projects"
        bodies = [json.dumps(three_department_project(rng)).encode() for _ in range(n)]
        deadline = time.monotonic() + 30
        while not port_accepts("127.0.0.1", port, timeout_s=0.3):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the HTTP server did not start")
            time.sleep(0.1)
        uvloop.run(_post_all(url, bodies[:200], 16))  # warm up: first requests, caches
        before = process_cpu_seconds(server.pid)
        ok = uvloop.run(_post_all(url, bodies, 16))
        spent = process_cpu_seconds(server.pid) - before
        if ok != n:
            raise RuntimeError(f"{n - ok} of {n} submissions were not answered 201")
        return Cost("http", "serve a submission (uvicorn, FastAPI, pydantic)", spent / n * 1e6)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def run(args: argparse.Namespace) -> list[Cost]:
    rng = random.Random(args.seed)
    mix = event_mix(rng)
    payloads = [event.to_json() for event in mix]
    print(
        f"events: per project 2 of {len(payloads[0])} bytes (a project with its tasks) and "
        f"12 of {len(payloads[-1])} (a task)"
    )
    costs = list(codec_costs(mix, args.codec))
    with tempfile.TemporaryDirectory(prefix="floor-") as tmp:
        broker = EmbeddedBroker(port=0, log_path=Path(tmp) / "broker.log").start()
        try:
            costs += uvloop.run(kafka_costs(broker, payloads, args.events))
        finally:
            broker.stop()
        costs += uvloop.run(row_costs(payloads[-1], args.rows, Path(tmp)))
    costs.append(http_cost(args.requests, rng=rng))
    return costs


def report(costs: list[Cost]) -> float:
    cores = psutil.cpu_count() or 1
    unit = {c.piece: c.unit_us for c in costs}
    print("=" * 78)
    print(f"{'piece':<50} {'us/unit':>8} {'x':>4} {'ms/project':>11}")
    for c in costs:
        print(f"{c.name:<50} {c.unit_us:8.1f} {c.per_project:4d} {c.ms_per_project:11.3f}")
    print("floor by process (ms of CPU per project):")
    for process, counts in FLOW.items():
        ms = sum(unit[piece] * n for piece, n in counts.items()) / 1000
        what = ", ".join(f"{n} {piece}" for piece, n in counts.items())
        print(f"    {process:<18} {ms:7.3f}   ({what})")
    total = sum(c.ms_per_project for c in costs)
    budget = cores * 1000 / TARGET_PER_S
    print(f"    {'all':<18} {total:7.3f}")
    print(f"CPU budget per project at {TARGET_PER_S}/s on {cores} cores: {budget:.2f} ms")
    print(
        f"FLOOR cpu_ms_per_project={total:.2f} budget_ms_at_{TARGET_PER_S}={budget:.2f} "
        f"max_projects_per_s={cores * 1000 / total:.0f}"
    )
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="events produced and read")
    parser.add_argument("--rows", type=int, default=20_000, help="rows written")
    parser.add_argument("--requests", type=int, default=4_000, help="HTTP submissions")
    parser.add_argument("--codec", type=int, default=5_000, help="events built and parsed")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    report(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
