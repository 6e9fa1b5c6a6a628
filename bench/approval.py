"""Approval benchmark: N projects submitted over HTTP, decided by department systems over Kafka.

    uv run python -m bench.approval [--n 10000] [--concurrency 64] [--database postgres] [--keep]

Starts its own platform (embedded broker on a free port, fresh SQLite databases in a temporary
folder, the three services as child processes), measures the raw broker rate with kafka-python,
then submits N three-department projects (NDRC, MEE, MOHURD) with concurrent HTTP clients while
in-process department clients approve every task at once. See bench/README.md for the metrics.
The last line printed is ``RESULT projects_per_s=.. raw_msgs_per_s=.. ratio=.. p99_ms=..``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script (`python bench/approval.py`): import from the
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # repository root, not bench/

import httpx
from kafka import KafkaConsumer, TopicPartition

from bench.harness import BenchPlatform, RawRate, Sampler, raw_broker_rate_isolated
from bench.profiling import Profilers, print_profiles
from services.samples import CREDIT_CODES, three_department_project
from services.simulate import (
    DecisionChooser,
    DepartmentWorker,
    start_departments,
    stop_departments,
)
from services.tokens import make_token
from shared.events import FINAL_PROJECT_EVENT_TYPES, EventType
from shared.topics import APPROVAL_PROJECTS, all_topics

APPROVED = EventType.PROJECT_APPROVED.value.encode()
RETRIES = 3
CLOSED_TYPES = {str(t) for t in FINAL_PROJECT_EVENT_TYPES}


class WarmUpFailed(RuntimeError):
    pass


class Tracker(threading.Thread):
    """Reads approval.projects from its current end; notes when each project is closed."""

    def __init__(self, bootstrap: str) -> None:
        super().__init__(name="tracker", daemon=True)
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=20,
            max_poll_records=5000, check_crcs=False,  # pure-Python CRC32C would dominate
        )  # fmt: skip
        partitions = self.consumer.partitions_for_topic(APPROVAL_PROJECTS) or set()
        self.tps = [TopicPartition(APPROVAL_PROJECTS, p) for p in sorted(partitions)]
        self.consumer.assign(self.tps)
        self.consumer.seek_to_end(*self.tps)  # on Tansu: a little before the end (harmless)
        for tp in self.tps:
            self.consumer.position(tp)  # resolve the end now, before anything is submitted
        self.closed: dict[str, tuple[str, float]] = {}
        self.messages = 0
        self.lock = threading.Lock()
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            for batch in self.consumer.poll(timeout_ms=100).values():
                now = time.monotonic()
                for record in batch:
                    self.messages += 1
                    value = record.value or b""
                    if b'"project.' not in value[:400]:
                        continue  # task and decision events: counted only
                    kind = json.loads(value).get("type")
                    if kind in CLOSED_TYPES and record.key:
                        with self.lock:
                            self.closed.setdefault(record.key.decode(), (kind, now))
        self.consumer.close()

    def count(self, codes: set[str]) -> int:
        with self.lock:
            return sum(1 for c in codes if c in self.closed)


@dataclass
class Load:
    submitted: dict[str, tuple[float, float]] = field(default_factory=dict)  # code: (start, end)
    errors: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    started: float = 0.0
    finished: float = 0.0


async def submit_all(base_url: str, secret: str, n: int, concurrency: int, seed: int) -> Load:
    tokens = {c: make_token(secret, "enterprise", credit_code=c) for c in CREDIT_CODES}
    rng = random.Random(seed)
    bodies = [(rng.choice(CREDIT_CODES), three_department_project(rng)) for _ in range(n)]
    load = Load()
    next_index = iter(range(n))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, timeout=60.0, trust_env=False
    ) as client:

        async def post(body: dict[str, object], headers: dict[str, str]) -> httpx.Response:
            # A dropped connection is retried with the same Idempotency-Key: never a duplicate.
            for attempt in range(RETRIES):
                try:
                    return await client.post("/api/v1/projects", json=body, headers=headers)
                except httpx.TransportError as exc:
                    load.retries[type(exc).__name__] += 1
                    if attempt == RETRIES - 1:
                        raise
            raise AssertionError("unreachable")

        async def worker() -> None:
            for i in next_index:
                credit_code, body = bodies[i]
                headers = {
                    "Authorization": f"Bearer {tokens[credit_code]}",
                    "Idempotency-Key": f"bench-{seed}-{i}",
                }
                start = time.monotonic()
                try:
                    response = await post(body, headers)
                except httpx.HTTPError as exc:
                    load.errors[type(exc).__name__] += 1
                    continue
                end = time.monotonic()
                if response.status_code != 201:
                    load.errors[f"HTTP {response.status_code}"] += 1
                    if sum(load.errors.values()) <= 3:
                        print(f"  refused: {response.status_code} {response.text[:300]}")
                    continue
                load.submitted[response.json()["project_code"]] = (start, end)

        load.started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        load.finished = time.monotonic()
    return load


def end_offsets(bootstrap: str, topics: list[str], timeout_s: float = 30.0) -> dict[str, int]:
    """Messages in each topic: the sum of its partitions' log end offsets (high watermarks).

    Not ListOffsets(latest): Tansu answers it with the base offset of the partition's last
    record batch, short of the log end. A fetch from there returns the true high watermark.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, check_crcs=False,
        fetch_max_wait_ms=10,
    )  # fmt: skip
    try:
        tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        consumer.assign(tps)
        consumer.seek_to_end(*tps)
        pending = set(tps)
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            consumer.poll(timeout_ms=100, max_records=100_000)
            pending = {tp for tp in pending if consumer.highwater(tp) is None}
        if pending:
            raise RuntimeError(f"no high watermark for {len(pending)} partitions")
        totals: Counter[str] = Counter()
        for tp in tps:
            totals[tp.topic] += consumer.highwater(tp) or 0
    finally:
        consumer.close()
    return dict(totals)


def wait_closed(tracker: Tracker, codes: set[str], platform: BenchPlatform, stall_s: float) -> bool:
    """Until every project is closed (True), or nothing moved for `stall_s` seconds (False)."""
    last, last_change = -1, time.monotonic()
    while True:
        platform.check()
        if not tracker.is_alive():
            raise RuntimeError("the tracker thread died")
        done = tracker.count(codes)
        if done >= len(codes):
            return True
        if done != last:
            last, last_change = done, time.monotonic()
        elif time.monotonic() - last_change > stall_s:
            print(f"  stalled: {done}/{len(codes)} projects closed, none for {stall_s:.0f}s")
            platform.keep = True  # for the post-mortem
            return False
        time.sleep(0.2)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def run(args: argparse.Namespace) -> int:
    with BenchPlatform(database=args.database, keep=args.keep) as bench:
        broker = bench.start_broker()
        print(f"broker {broker.bootstrap}; work dir {bench.workdir}")
        print(f"raw broker rate: {args.raw_messages} x {args.raw_size} B (kafka-python) ...")
        raw: RawRate = raw_broker_rate_isolated(
            broker.bootstrap, args.raw_messages, args.raw_size, partitions=6
        )
        print(
            f"  produce {raw.messages / raw.produce_s:,.0f}/s, consume "
            f"{raw.messages / raw.consume_s:,.0f}/s -> {raw.msgs_per_s:,.0f} msgs/s"
        )
        platform = bench.start_services()
        approval_url = platform.urls["approval-svc"]
        print(f"services up: {', '.join(f'{k} {v}' for k, v in platform.urls.items())}")
        stop = threading.Event()
        workers: list[DepartmentWorker] = []
        producer = None
        if args.approver == "thread":
            workers, producer = start_departments(
                platform.bootstrap, args.departments, DecisionChooser(1, 0, 0), delay_s=0,
                stop=stop, group_prefix="bench-dept-",
            )  # fmt: skip
            me = "bench (client+departments)"
        else:
            bench.start_departments(args.departments)
            me = "bench (HTTP client+tracker)"
        sampler = Sampler({**platform.pids, me: os.getpid()})
        sampler.start()
        profilers: Profilers | None = None
        tracker = Tracker(platform.bootstrap)
        tracker.start()
        try:
            # Warm-up: every consumer group has joined once these 20 are approved.
            warm = asyncio.run(submit_all(approval_url, platform.secret, 20, 4, seed=1))
            if not wait_closed(tracker, set(warm.submitted), bench, stall_s=60):
                raise WarmUpFailed(
                    "the 20 warm-up projects were not approved within 60 s: the platform does "
                    f"not process decisions (see {bench.workdir}/platform.log)"
                )
            time.sleep(1.0)
            measured = [t for t in all_topics() if not t.startswith("bench.")]
            before = end_offsets(platform.bootstrap, measured)
            sampler.mark_start()
            if args.profile:
                profilers = Profilers({**platform.pids, me: os.getpid()}, Path(args.profile))
            print(f"submitting {args.n} projects with {args.concurrency} concurrent clients ...")
            load = asyncio.run(
                submit_all(approval_url, platform.secret, args.n, args.concurrency, args.seed)
            )
            print(f"  submitted {len(load.submitted)} in {load.finished - load.started:.1f}s")
            wait_closed(tracker, set(load.submitted), bench, stall_s=args.stall)
            sampler.mark_end()
            after = end_offsets(platform.bootstrap, measured)
        finally:
            if profilers is not None:
                profilers.stop()
            stop.set()
            if producer is not None:
                stop_departments(workers, producer)
            sampler.stop()
            tracker.stop_event.set()
            tracker.join(timeout=5)
        if profilers is not None:
            print_profiles(profilers.summaries())
        return report(args, load, tracker, raw, sampler, before, after)


def report(
    args: argparse.Namespace,
    load: Load,
    tracker: Tracker,
    raw: RawRate,
    sampler: Sampler,
    before: dict[str, int],
    after: dict[str, int],
) -> int:
    closed = {c: v for c, v in tracker.closed.items() if c in load.submitted}
    approved = {c: at for c, (kind, at) in closed.items() if kind == EventType.PROJECT_APPROVED}
    others = Counter(kind for kind, _ in closed.values() if kind != EventType.PROJECT_APPROVED)
    submit_s = load.finished - load.started
    last = max(approved.values(), default=load.finished)
    window = max(last - load.started, 1e-9)
    latencies = [
        (approved[c] - end) * 1000 for c, (_, end) in load.submitted.items() if c in approved
    ]
    http_ms = [(end - start) * 1000 for start, end in load.submitted.values()]
    moved = {t: after.get(t, 0) - before.get(t, 0) for t in after}
    total_moved = sum(moved.values())
    pipeline_rate = total_moved / window
    projects_per_s = len(approved) / window
    print()
    print("=" * 72)
    print(f"approval benchmark: {args.n} projects x 3 departments, concurrency {args.concurrency},")
    print(
        f"database {args.database}, {len(args.departments)} department clients (delay 0, "
        f"{args.approver})"
    )
    print("-" * 72)
    print(
        f"submitted           {len(load.submitted):>8} ok, errors {dict(load.errors) or 0}, "
        f"retried {dict(load.retries) or 0}"
    )
    print(f"submissions/s       {len(load.submitted) / submit_s:>11.1f}  (over {submit_s:.1f}s)")
    print(f"HTTP submit latency p50 {pct(http_ms, 50):.0f} ms, p99 {pct(http_ms, 99):.0f} ms")
    print(f"approved            {len(approved):>8}   other outcomes {dict(others) or 0}")
    print(f"completed projects/s{projects_per_s:>11.1f}  (first submission -> last approval, "
          f"{window:.1f}s)")  # fmt: skip
    print(
        f"latency submit->approved  p50 {pct(latencies, 50):.0f} ms  p95 {pct(latencies, 95):.0f}"
        f" ms  p99 {pct(latencies, 99):.0f} ms  max {max(latencies, default=0):.0f} ms"
    )
    print(f"pipeline messages   {total_moved:>8}   ({pipeline_rate:,.0f}/s over the window)")
    for topic, count in sorted(moved.items(), key=lambda kv: -kv[1]):
        if count:
            print(f"    {topic:<32} {count:>8}")
    print(
        f"raw broker rate     {raw.msgs_per_s:>11,.0f} msgs/s  ({raw.messages} x {raw.size} B, "
        f"produce {raw.produce_s:.1f}s + consume {raw.consume_s:.1f}s, kafka-python)"
    )
    print("processes           peak RSS     CPU s (during the window; 1 core = window s)")
    for stat in sampler.stats.values():
        print(
            f"    {stat.name:<28} {stat.peak_rss / 2**20:>7.0f} MiB {stat.cpu_seconds:>8.1f}"
            f"  ({stat.cpu_seconds / window * 100:.0f}% of a core)"
        )
    print("=" * 72)
    ratio = pipeline_rate / raw.msgs_per_s
    p99 = pct(latencies, 99)
    print(
        f"RESULT projects_per_s={projects_per_s:.1f} raw_msgs_per_s={raw.msgs_per_s:.0f} "
        f"ratio={ratio:.3f} p99_ms={p99:.0f}"
    )
    return 0 if len(approved) == args.n and not load.errors else 1


def parse_departments(text: str) -> list[str]:
    from services.simulate import parse_departments as parse

    return parse(text)


def main(argv: list[str] | None = None) -> int:
    from shared.topics import DEPARTMENT_CODES

    parser = argparse.ArgumentParser(prog="python -m bench.approval", description=__doc__)
    parser.add_argument("--n", type=int, default=10_000, help="projects to submit (10000)")
    parser.add_argument("--concurrency", type=int, default=64, help="concurrent HTTP clients")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, databases)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--raw-messages", type=int, default=200_000)
    parser.add_argument("--raw-size", type=int, default=500)
    parser.add_argument(
        "--approver", choices=("process", "thread"), default="process",
        help="department clients in a child process (default) or in threads of this one",
    )  # fmt: skip
    parser.add_argument("--profile", metavar="DIR", help="py-spy every process into DIR")
    parser.add_argument("--stall", type=float, default=120.0, help="give up after N idle seconds")
    parser.add_argument(
        "--departments", type=parse_departments, default=list(DEPARTMENT_CODES),
        help="department clients to run (default all 18)",
    )  # fmt: skip
    args = parser.parse_args(argv)

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # unwind: every process started is stopped on the way out

    signal.signal(signal.SIGTERM, on_term)
    try:
        return run(args)
    except WarmUpFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        print("RESULT projects_per_s=0 raw_msgs_per_s=0 ratio=0 p99_ms=nan")
        return 1
    except KeyboardInterrupt:
        print("interrupted: platform stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
