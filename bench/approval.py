"""Approval benchmark: projects submitted over HTTP, decided by department systems over Kafka.

    uv run python -m bench.approval [--n 10000] [--mode both|saturation|rate] [--rate R]
                                    [--database sqlite|postgres] [--keep] [--profile DIR]

Starts its own platform (embedded broker on a free port, fresh SQLite databases in a temporary
folder or fresh PostgreSQL databases it creates and drops, the services as child processes),
measures the raw broker rate with kafka-python, then runs

1. **saturation**: N three-department projects (NDRC, MEE, MOHURD) from `--concurrency` closed-
   loop HTTP clients while the department systems approve every task at once;
2. **half load**: an open loop at a constant rate of half the saturation throughput (or
   `--rate`) for `--rate-seconds`, where latency means something: the queue does not grow.

See bench/README.md for the metrics. The last line printed is ``RESULT projects_per_s=..
raw_msgs_per_s=.. ratio=.. p99_ms=.. half_load_p99_ms=..``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script (`python bench/approval.py`): import from the
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # repository root, not bench/

import uvloop
from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as AioTopicPartition
from kafka import KafkaConsumer, TopicPartition

from bench.harness import BenchPlatform, RawRate, Sampler, raw_broker_rate_isolated
from bench.lag import LagSampler
from bench.load import Load, build_requests, closed_loop, open_loop
from bench.profiling import Profilers, print_profiles
from services.simulate import (
    DecisionChooser,
    DepartmentWorker,
    start_departments,
    stop_departments,
)
from shared.events import FINAL_PROJECT_EVENT_TYPES, EventType
from shared.topics import APPROVAL_DECISIONS, APPROVAL_PROJECTS, all_topics

CLOSED_TYPES = {str(t) for t in FINAL_PROJECT_EVENT_TYPES}
FINE_STAGES = ("submitted sent", "decision sent", "approved stamped", "approved sent")
"""Stages read off the records (CreateTime) and the approved event's time, not the tracker."""


class WarmUpFailed(RuntimeError):
    pass


class Tracker(threading.Thread):
    """Reads approval.projects and approval.decisions from their current ends; notes when each
    project was announced, when its last department decision was sent, and when it closed.

    aiokafka on its own event loop in this thread: with kafka-python (a network thread handing
    every fetch over through a condition variable) the tracker was most of the benchmark's
    own CPU, which the issue caps at a tenth of the total. `start` returns once the ends are
    resolved, before anything is submitted.
    """

    def __init__(self, bootstrap: str, *, ready_timeout_s: float = 30.0) -> None:
        super().__init__(name="tracker", daemon=True)
        self.bootstrap = bootstrap
        self.ready_timeout_s = ready_timeout_s
        self.closed: dict[str, tuple[str, float]] = {}
        # Where the time goes, per project code: when project.submitted was published (HTTP,
        # group commit, outbox relay) and when the last department decision was (tasks
        # published, department clients). Decision to approval is the rest.
        self.announced: dict[str, float] = {}
        self.last_decision: dict[str, float] = {}
        # The same stages without the tracker's own fetch, and the approval split in two: when
        # approval's decision consumer applied the last decision (the approved event's `time`),
        # and when its relay handed the event to the producer (the record's CreateTime). On
        # the monotonic clock, like the rest (one machine: the wall clock is shared).
        self.stamped: dict[str, dict[str, float]] = {s: {} for s in FINE_STAGES}
        self._wall_to_mono = time.time() - time.monotonic()
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self._ready = threading.Event()
        self.error: BaseException | None = None

    def start(self) -> None:
        super().start()
        if not self._ready.wait(self.ready_timeout_s) or self.error is not None:
            self.stop_event.set()
            raise RuntimeError(f"the tracker could not start: {self.error or 'timed out'}")

    def run(self) -> None:
        try:
            uvloop.run(self._run())
        except BaseException as exc:
            self.error = exc
            self._ready.set()
            raise

    async def _run(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
            fetch_max_wait_ms=20, check_crcs=False,
        )  # fmt: skip
        await consumer.start()
        try:
            await consumer.topics()  # the cluster's metadata, so the partitions are known
            tps = [
                AioTopicPartition(topic, p)
                for topic in (APPROVAL_PROJECTS, APPROVAL_DECISIONS)
                for p in sorted(consumer.partitions_for_topic(topic) or set())
            ]
            missing = {APPROVAL_PROJECTS, APPROVAL_DECISIONS} - {tp.topic for tp in tps}
            if missing:
                raise RuntimeError(f"no partitions known for {sorted(missing)}")
            consumer.assign(tps)
            await consumer.seek_to_end(*tps)  # on Tansu: a little before the end (harmless)
            for tp in tps:
                await consumer.position(tp)  # resolve the end now, before anything is submitted
            self._ready.set()
            while not self.stop_event.is_set():
                batches = await consumer.getmany(timeout_ms=100, max_records=5000)
                now = time.monotonic()
                for batch in batches.values():
                    self._note(batch, now)
        finally:
            await consumer.stop()

    def _note(self, batch: list[Any], now: float) -> None:
        stages = self.stamped
        for record in batch:
            value = record.value or b""
            code = record.key.decode() if record.key else None
            at = record.timestamp / 1000 - self._wall_to_mono  # the producer's send
            if record.topic == APPROVAL_DECISIONS:
                if code:
                    self.last_decision[code] = now
                    stages["decision sent"][code] = at
                continue
            if b'"project.submitted"' in value[:400] and code:
                self.announced.setdefault(code, now)
                stages["submitted sent"].setdefault(code, at)
                continue
            if b'"project.' not in value[:400]:
                continue  # task and decision events: counted only
            event = json.loads(value)
            kind = event.get("type")
            if kind in CLOSED_TYPES and code:
                if kind == EventType.PROJECT_APPROVED:
                    stamped = datetime.fromisoformat(event["time"]).timestamp()
                    stages["approved stamped"].setdefault(code, stamped - self._wall_to_mono)
                    stages["approved sent"].setdefault(code, at)
                with self.lock:
                    self.closed.setdefault(code, (kind, now))

    def count(self, codes: set[str]) -> int:
        with self.lock:
            return len(codes.intersection(self.closed))


# Faust commits offsets every few seconds: a group this close to the end is keeping up.
DRAINED_BELOW = 300


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
            raise RuntimeError(f"the tracker thread died: {tracker.error!r}")
        done = tracker.count(codes)
        if done >= len(codes):
            return True
        if done != last:
            last, last_change = done, time.monotonic()
        elif time.monotonic() - last_change > stall_s:
            print(f"  stalled: {done}/{len(codes)} projects closed, none for {stall_s:.0f}s")
            platform.keep = True  # for the post-mortem
            return False
        time.sleep(0.1)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


@dataclass
class Phase:
    """One measured load: what was sent, what came out, and what it cost each process."""

    name: str
    load: Load
    approved: dict[str, float]  # code: when its project.approved was seen
    announced: dict[str, float]  # code: when its project.submitted was seen
    last_decision: dict[str, float]  # code: when its last department decision was seen
    stamped: dict[str, dict[str, float]]  # stage: code: its instant (`FINE_STAGES`)
    others: Counter[str]
    window_s: float
    moved: dict[str, int]
    cpu_s: dict[str, float]
    lag_peaks: str = ""

    @property
    def projects_per_s(self) -> float:
        return len(self.approved) / self.window_s

    @property
    def latencies_ms(self) -> list[float]:
        """Submit -> approved: from the instant the request was sent (open loop: was due)."""
        return [
            (self.approved[c] - since) * 1000
            for c, (since, _) in self.load.submitted.items()
            if c in self.approved
        ]

    def stage_ms(self, seen: dict[str, float]) -> list[float]:
        """Submit -> a stage's instant (`seen`, by code), for the projects approved."""
        return [
            (seen[c] - since) * 1000
            for c, (since, _) in self.load.submitted.items()
            if c in self.approved and c in seen
        ]

    @property
    def http_ms(self) -> list[float]:
        return [(end - since) * 1000 for since, end in self.load.submitted.values()]

    @property
    def messages(self) -> int:
        return sum(self.moved.values())


def measure(
    name: str,
    drive: Coroutine[Any, Any, Load],
    *,
    bench: BenchPlatform,
    tracker: Tracker,
    sampler: Sampler,
    lags: LagSampler,
    measured_topics: list[str],
    stall_s: float,
) -> Phase:
    """Run the load coroutine `drive`, wait until its projects are closed, take the figures."""
    bootstrap = bench.bootstrap
    before = end_offsets(bootstrap, measured_topics)
    cpu_before = sampler.cpu_now()
    lags.reset()
    load = asyncio.run(drive)
    print(
        f"  {name}: {len(load.submitted)} submitted in {load.seconds:.1f}s"
        + (f" (generator fell {load.lag_s * 1000:.0f} ms behind)" if load.lag_s > 0.05 else "")
    )
    wait_closed(tracker, set(load.submitted), bench, stall_s=stall_s)
    cpu_after = sampler.cpu_now()
    after = end_offsets(bootstrap, measured_topics)
    with tracker.lock:  # the tracker may still be adding (after a stall)
        closed = {c: v for c, v in tracker.closed.items() if c in load.submitted}
    approved = {c: at for c, (kind, at) in closed.items() if kind == EventType.PROJECT_APPROVED}
    others = Counter(kind for kind, _ in closed.values() if kind != EventType.PROJECT_APPROVED)
    last = max(approved.values(), default=load.finished)
    return Phase(
        name=name,
        load=load,
        approved=approved,
        announced={c: tracker.announced[c] for c in approved if c in tracker.announced},
        last_decision={c: tracker.last_decision[c] for c in approved if c in tracker.last_decision},
        stamped={
            stage: {c: seen[c] for c in approved if c in seen}
            for stage, seen in tracker.stamped.items()
        },
        others=others,
        window_s=max(last - load.started, 1e-9),
        moved={t: after.get(t, 0) - before.get(t, 0) for t in after},
        cpu_s={k: max(0.0, cpu_after[k] - cpu_before.get(k, 0.0)) for k in cpu_after},
        lag_peaks=lags.report(),
    )


def run(args: argparse.Namespace) -> int:
    with BenchPlatform(database=args.database, keep=args.keep) as bench:
        broker = bench.start_broker()
        print(f"broker {broker.bootstrap}; work dir {bench.workdir}; database {args.database}")
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
        # First: it may fail to start, before anything else is started that would need stopping.
        tracker = Tracker(platform.bootstrap)
        tracker.start()
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
            me = "bench (load generator)"
        pids = {**platform.pids, me: os.getpid()}
        pids.pop("portal-svc", None)  # not on the submission path (it has no consumers)
        sampler = Sampler(pids)
        sampler.start()
        profilers: Profilers | None = None
        lags = LagSampler(
            platform.bootstrap,
            metrics={n: f"{u}/metrics" for n, u in platform.urls.items() if n != "portal-svc"},
        )
        lags.start()
        phases: list[Phase] = []
        measured = [t for t in all_topics() if not t.startswith("bench.")]

        def phase(name: str, drive: Coroutine[Any, Any, Load]) -> Phase:
            return measure(
                name, drive, bench=bench, tracker=tracker, sampler=sampler, lags=lags,
                measured_topics=measured, stall_s=args.stall,
            )  # fmt: skip

        try:
            # Warm-up: every consumer group has joined once these 20 are approved.
            warm = asyncio.run(
                closed_loop(approval_url, build_requests(platform.secret, 20, 1, "warm"), 4)
            )
            if not wait_closed(tracker, set(warm.submitted), bench, stall_s=60):
                raise WarmUpFailed(
                    "the 20 warm-up projects were not approved within 60 s: the platform does "
                    f"not process decisions (see {bench.workdir}/platform.log)"
                )
            time.sleep(1.0)
            if args.profile:
                profilers = Profilers(pids, Path(args.profile))
            if args.mode in ("both", "saturation"):
                requests = build_requests(platform.secret, args.n, args.seed, "sat")
                print(f"saturation: {args.n} projects, {args.concurrency} concurrent clients ...")
                phases.append(
                    phase("saturation", closed_loop(approval_url, requests, args.concurrency))
                )
            if args.mode in ("both", "rate"):
                rate = args.rate or (phases[0].projects_per_s / 2 if phases else 0.0)
                if rate <= 0:
                    raise SystemExit("--mode rate needs --rate (projects per second)")
                count = max(1, round(rate * args.rate_seconds))
                requests = build_requests(platform.secret, count, args.seed + 1, "rate")
                if phases:
                    # Latency "at a load it can carry" starts from a platform at rest: the
                    # stages the saturation run left behind (supervision, notify) catch up
                    # first, or their backlog would be measured as the open loop's latency.
                    took = lags.wait_drained(below=DRAINED_BELOW, timeout_s=args.drain_timeout)
                    print(
                        "  every queue drained after the saturation run in "
                        + (f"{took:.0f} s" if took is not None else
                           f"more than {args.drain_timeout:.0f} s (measuring anyway)")
                    )  # fmt: skip
                time.sleep(2.0)  # and the consumers' offset commits settle
                print(f"open loop: {count} projects at {rate:.1f}/s ...")
                name = "half load" if not args.rate else f"rate {rate:g}/s"
                phases.append(phase(name, open_loop(approval_url, requests, rate)))
        finally:
            if profilers is not None:
                profilers.stop()
            stop.set()
            if producer is not None:
                stop_departments(workers, producer)
            sampler.stop()
            lags.stop()
            tracker.stop_event.set()
            tracker.join(timeout=5)
        if profilers is not None:
            print_profiles(profilers.summaries())
        return report(args, phases, raw, sampler)


def report(args: argparse.Namespace, phases: list[Phase], raw: RawRate, sampler: Sampler) -> int:
    print()
    print("=" * 78)
    print(
        f"approval benchmark: 3 departments per project, database {args.database}, "
        f"{len(args.departments)} department clients (delay 0, {args.approver})"
    )
    print(
        f"raw broker rate     {raw.msgs_per_s:>11,.0f} msgs/s  ({raw.messages} x {raw.size} B, "
        f"produce {raw.produce_s:.1f}s + consume {raw.consume_s:.1f}s, kafka-python)"
    )
    ok = True
    for phase in phases:
        load = phase.load
        lat, http = phase.latencies_ms, phase.http_ms
        print("-" * 78)
        offered = len(load.submitted) + sum(load.errors.values())
        print(f"[{phase.name}] {offered} projects offered over {load.seconds:.1f}s")
        print(
            f"  submitted        {len(load.submitted):>8} ok, errors {dict(load.errors) or 0}, "
            f"retried {dict(load.retries) or 0}"
        )
        print(f"  submissions/s    {len(load.submitted) / load.seconds:>11.1f}")
        print(
            f"  HTTP submit      p50 {pct(http, 50):.0f} ms  p99 {pct(http, 99):.0f} ms  "
            f"max {max(http, default=0):.0f} ms"
        )
        others = dict(phase.others) or 0
        print(f"  approved         {len(phase.approved):>8}   other outcomes {others}")
        print(
            f"  completed/s      {phase.projects_per_s:>11.1f}  (first submission -> last "
            f"approval, {phase.window_s:.1f}s)"
        )
        print(
            f"  submit->approved p50 {pct(lat, 50):.0f} ms  p95 {pct(lat, 95):.0f} ms  "
            f"p99 {pct(lat, 99):.0f} ms  max {max(lat, default=0):.0f} ms"
        )
        announced, decided = phase.stage_ms(phase.announced), phase.stage_ms(phase.last_decision)
        stages = [("submitted published", announced), ("last decision sent", decided)]
        print(
            "    by stage p50/p99  "
            + ", ".join(f"{n} {pct(v, 50):.0f}/{pct(v, 99):.0f} ms" for n, v in stages)
        )
        fine = [(n, phase.stage_ms(phase.stamped[n])) for n in FINE_STAGES]
        print(
            "    sent/stamped      "
            + ", ".join(f"{n} {pct(v, 50):.0f}/{pct(v, 99):.0f} ms" for n, v in fine)
        )
        rate = phase.messages / phase.window_s
        print(
            f"  pipeline msgs    {phase.messages:>8}   ({rate:,.0f}/s, "
            f"ratio to raw {rate / raw.msgs_per_s:.3f}; "
            f"{phase.messages / max(len(phase.approved), 1):.1f} per project)"
        )
        print(f"  peak queues      {phase.lag_peaks}")
        print("                   (msgs in outboxes and consumer groups: where a queue built)")
        for topic, count in sorted(phase.moved.items(), key=lambda kv: -kv[1]):
            if count:
                print(f"      {topic:<32} {count:>8}")
        total_cpu = sum(phase.cpu_s.values())
        projects = max(len(phase.approved), 1)
        print("  CPU per project  (ms of CPU per approved project; share of all CPU)")
        for process, seconds in sorted(phase.cpu_s.items(), key=lambda kv: -kv[1]):
            print(
                f"      {process:<28} {seconds * 1000 / projects:>7.2f} ms  "
                f"{100 * seconds / max(total_cpu, 1e-9):>5.1f} %  "
                f"({100 * seconds / phase.window_s:.0f}% of a core)"
            )
        print(
            f"      {'all processes':<28} {total_cpu * 1000 / projects:>7.2f} ms  "
            f"({100 * total_cpu / phase.window_s:.0f}% of a core; the machine has "
            f"{os.cpu_count()} cores)"
        )
        ok = ok and len(phase.approved) == len(load.submitted) == offered and not load.errors
    print("processes peak RSS  " + ", ".join(
        f"{s.name} {s.peak_rss / 2**20:.0f} MiB" for s in sampler.stats.values()
    ))  # fmt: skip
    print("=" * 78)
    saturation = next((p for p in phases if p.name == "saturation"), None)
    half = next((p for p in phases if p is not saturation), None)
    main = saturation or half
    assert main is not None
    ratio = main.messages / main.window_s / raw.msgs_per_s
    print(
        f"RESULT projects_per_s={main.projects_per_s:.1f} raw_msgs_per_s={raw.msgs_per_s:.0f} "
        f"ratio={ratio:.3f} p99_ms={pct(main.latencies_ms, 99):.0f} "
        f"half_load_p99_ms={pct(half.latencies_ms, 99) if half else float('nan'):.0f}"
        + (f" half_load_http_p99_ms={pct(half.http_ms, 99):.0f}" if half else "")
    )
    return 0 if ok else 1


def parse_departments(text: str) -> list[str]:
    from services.simulate import parse_departments as parse

    return parse(text)


def main(argv: list[str] | None = None) -> int:
    from shared.topics import DEPARTMENT_CODES

    parser = argparse.ArgumentParser(prog="python -m bench.approval", description=__doc__)
    parser.add_argument("--n", type=int, default=10_000, help="saturation projects (10000)")
    parser.add_argument("--concurrency", type=int, default=64, help="closed-loop HTTP clients")
    parser.add_argument(
        "--mode", choices=("both", "saturation", "rate"), default="both",
        help="saturation, then an open loop at half its rate (default); or one of them",
    )  # fmt: skip
    parser.add_argument("--rate", type=float, default=0.0, help="open-loop projects per second")
    parser.add_argument("--rate-seconds", type=float, default=30.0, help="open-loop duration")
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
    parser.add_argument(
        "--drain-timeout", type=float, default=600.0,
        help="wait at most N s for the queues to drain before the open loop",
    )  # fmt: skip
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
        print("RESULT projects_per_s=0 raw_msgs_per_s=0 ratio=0 p99_ms=nan half_load_p99_ms=nan")
        return 1
    except KeyboardInterrupt:
        print("interrupted: platform stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
