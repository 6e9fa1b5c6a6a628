"""`python -m services simulate-departments`: department systems deciding their tasks.

One :class:`~services.departments.DepartmentClient` per department, each in its own thread and
its own consumer group (``dept-<DEPT>``), as a real department system would be. Offsets are
committed at most every ``--commit-interval`` seconds, each time after the decisions sent so
far are acknowledged (at least once: as Kafka's auto-commit, but never ahead of a decision).
Each assigned task is decided after ``--delay`` seconds: approved, supplement required (with
the missing materials listed) or rejected, in the ``--approve/--supplement/--reject``
proportions. With ``--auto-supplement`` (default) the simulator also plays the enterprise: it
supplies what a supplement notice asked for over HTTP
(``POST /api/v1/tasks/{id}/supplement``), after which the department decides the task again
(approve or reject: one notice lists everything).

Interface the CLI relies on: ``configure_parser(parser)`` and ``main(args) -> int``.
`python -m services up --simulate-departments` starts this command once every service is ready.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import logging
import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from types import FrameType

from kafka import KafkaProducer
from kafka.errors import KafkaError

from approval_svc.settings import ApprovalSettings
from services.departments import DepartmentClient, DepartmentTask
from services.enterprise import EnterpriseAgent, Reporter
from services.kafka_clients import make_producer
from shared.settings import build_settings, get_platform_settings
from shared.topics import DEPARTMENT_CODES

log = logging.getLogger(__name__)

MATERIALS: dict[str, tuple[str, ...]] = {
    "NDRC": ("project application report", "industrial policy compliance statement",
             "energy-saving report", "financing plan"),
    "MNR": ("land pre-examination application", "site selection map", "land ownership proof"),
    "MEE": ("environmental impact report", "public participation report",
            "pollutant discharge plan"),
    "MOHURD": ("construction drawings review certificate", "contractor qualification",
               "fire-protection design drawings"),
    "MWR": ("soil and water conservation plan", "water resources demonstration report"),
}  # fmt: skip
GENERIC_MATERIALS = ("application form", "legal representative ID", "site photographs")
DEFAULT_COMMIT_INTERVAL_S = 1.0
# A poll returns as soon as tasks come, so its wait only bounds the empty rounds: each round
# hands work between kafka-python's IO thread and the worker several times, and at 5 rounds a
# second the eighteen mostly idle clients took a fifth of a core at rest (a tenth at 1 a second).
MAX_POLL_WAIT_MS = 1000


@dataclass(frozen=True)
class DecisionChooser:
    """Picks decisions in the given proportions (they need not add up to 1)."""

    approve: float = 0.8
    supplement: float = 0.1
    reject: float = 0.1

    def __post_init__(self) -> None:
        weights = (self.approve, self.supplement, self.reject)
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError("--approve/--supplement/--reject must be >= 0 and not all 0")

    def choose(self, rng: random.Random, *, resubmitted: bool = False) -> str:
        """A decision; after a supplement only approve or reject (one notice lists everything)."""
        supplement = 0.0 if resubmitted else self.supplement
        total = self.approve + supplement + self.reject
        if total <= 0:
            return "approved"
        x = rng.random() * total
        if x < self.approve:
            return "approved"
        if x < self.approve + supplement:
            return "supplement_required"
        return "rejected"

    def materials(self, rng: random.Random, department: str) -> list[str]:
        pool = MATERIALS.get(department, ()) + GENERIC_MATERIALS
        return rng.sample(pool, k=rng.randint(1, 2))


OPINIONS = {
    "approved": "meets the requirements; approved",
    "rejected": "does not meet the requirements of the industrial policy; rejected",
    "supplement_required": "materials incomplete; please supplement everything listed",
}


@dataclass(order=True)
class _Due:
    at: float
    seq: int
    task: DepartmentTask = field(compare=False)
    resubmitted: bool = field(compare=False, default=False)


class DepartmentWorker(threading.Thread):
    """Decides one department's tasks after a delay; polls often enough to stay in its group.

    Decisions go out as they are made (the producer batches them for a few milliseconds); the
    offsets of what is done are committed, after the decisions are acknowledged, once
    `commit_interval_s` has passed since the last commit. Committing on every poll cost a
    producer flush and an OffsetCommit round trip per task at moderate load (a poll then
    holds one task), in this client and in the broker. A crash re-reads what was done since
    the last commit (about that interval and a poll, longer while commits fail) and what was
    scheduled but not decided; the platform refuses a second decision of a task.
    """

    def __init__(
        self,
        client: DepartmentClient,
        chooser: DecisionChooser,
        *,
        delay_s: float,
        stop: threading.Event,
        rng: random.Random,
        reporter: Reporter | None = None,
        enterprise: EnterpriseAgent | None = None,
        commit_interval_s: float = DEFAULT_COMMIT_INTERVAL_S,
    ) -> None:
        super().__init__(name=f"dept-{client.department}", daemon=True)
        self.client = client
        self.commit_interval_s = commit_interval_s
        self._next_commit = float("-inf")
        self.chooser = chooser
        self.delay_s = delay_s
        self.stop = stop
        self.rng = rng
        self.reporter = reporter
        self.enterprise = enterprise
        self.error: BaseException | None = None
        self._due: list[_Due] = []
        self._scheduled: set[str] = set()
        self._cancelled: set[str] = set()
        # Tasks this department sent back for supplement: when the platform assigns one again
        # (after the enterprise supplied the materials) it is decided without a second notice.
        self._supplemented: set[str] = set()
        self._seq = itertools.count()

    def _schedule(self, task: DepartmentTask, *, resubmitted: bool = False) -> None:
        # Decisions spread over 0.5-1.5x the delay, as people's do.
        delay = self.delay_s * self.rng.uniform(0.5, 1.5) if self.delay_s > 0 else 0.0
        at = time.monotonic() + delay
        heapq.heappush(self._due, _Due(at, next(self._seq), task, resubmitted))
        self._scheduled.add(task.task_id)

    def _timeout_ms(self) -> int:
        if not self._due:
            return MAX_POLL_WAIT_MS
        return max(0, min(MAX_POLL_WAIT_MS, int((self._due[0].at - time.monotonic()) * 1000)))

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    self.step(self._timeout_ms())
                except KafkaError as exc:
                    # The broker is away or was restarted: the client reconnects by itself.
                    log.warning("%s: %s; carrying on", self.name, exc)
                    self.stop.wait(1.0)
        except BaseException as exc:
            log.exception("%s stopped on an error", self.name)
            self.error = exc
            self.stop.set()

    def step(self, timeout_ms: int) -> int:
        """One poll, the decisions that are due, and a commit when one is due; the number of
        decisions made."""
        for task in self.client.poll(timeout_ms):
            if task.is_withdrawn:
                if task.task_id in self._scheduled:
                    self._cancelled.add(task.task_id)
                self.client.mark_done(task)
            else:
                resubmitted = task.task_id in self._supplemented
                self._supplemented.discard(task.task_id)
                self._schedule(task, resubmitted=resubmitted)
        decided = 0
        now = time.monotonic()
        while self._due and self._due[0].at <= now:
            item = heapq.heappop(self._due)
            self._decide(item)
            decided += 1
        if now >= self._next_commit:
            self.client.commit(quiet=True)  # no request when nothing new is done
            self._next_commit = now + self.commit_interval_s
        return decided

    def _decide(self, item: _Due) -> None:
        task = item.task
        self._scheduled.discard(task.task_id)
        if task.task_id in self._cancelled:
            self._cancelled.discard(task.task_id)
            self.client.mark_done(task)
            return
        decision = self.chooser.choose(self.rng, resubmitted=item.resubmitted)
        missing: list[str] = []
        if decision == "supplement_required":
            missing = self.chooser.materials(self.rng, self.client.department)
        self.client.decide(task, decision, opinion=OPINIONS[decision], missing_materials=missing)
        self.client.mark_done(task)
        if self.reporter is not None:
            self.reporter.decided(task, decision, missing)
        if missing:
            self._supplemented.add(task.task_id)
            if self.enterprise is not None:
                # The platform re-assigns the task on our topic once it is supplemented.
                self.enterprise.supplement_later(task, missing, lambda _task: None)


def start_departments(
    bootstrap: str,
    departments: list[str],
    chooser: DecisionChooser,
    *,
    delay_s: float,
    stop: threading.Event,
    seed: int | None = None,
    reporter: Reporter | None = None,
    enterprise: EnterpriseAgent | None = None,
    group_prefix: str = "dept-",
    commit_interval_s: float = DEFAULT_COMMIT_INTERVAL_S,
) -> tuple[list[DepartmentWorker], KafkaProducer]:
    """Create one client per department (its own group) sharing one producer; start them.

    Returns the workers and the shared producer (close it after the workers stopped).
    """
    producer = make_producer(bootstrap, client_id="department-systems")
    # The fetch waits every platform consumer uses (KAFKA_FETCH_MAX_WAIT_MS and the idle ones).
    platform = get_platform_settings()
    workers: list[DepartmentWorker] = []
    try:
        for index, dept in enumerate(departments):
            client = DepartmentClient(
                bootstrap,
                dept,
                group_id=f"{group_prefix}{dept}",
                producer=producer,
                fetch_wait_ms=platform.kafka_fetch_max_wait_ms,
                idle_fetch_wait_ms=platform.kafka_fetch_idle_wait_ms,
                idle_after_s=platform.kafka_fetch_idle_after_s,
            )
            rng = random.Random(None if seed is None else seed * 1000 + index)
            workers.append(
                DepartmentWorker(
                    client, chooser, delay_s=delay_s, stop=stop, rng=rng,
                    reporter=reporter, enterprise=enterprise,
                    commit_interval_s=commit_interval_s,
                )
            )  # fmt: skip
    except BaseException:
        for worker in workers:
            worker.client.close()
        producer.close(timeout=5)
        raise
    for worker in workers:
        worker.start()
    return workers, producer


def stop_departments(workers: list[DepartmentWorker], producer: KafkaProducer) -> None:
    for worker in workers:
        worker.join(timeout=10)
    for worker in workers:
        try:
            worker.client.close()
        except Exception as exc:  # closing must reach every client
            log.warning("closing %s: %s", worker.client.department, exc)
    producer.close(timeout=10)


def parse_departments(text: str) -> list[str]:
    codes = [c.strip().upper() for c in text.split(",") if c.strip()]
    unknown = [c for c in codes if c not in DEPARTMENT_CODES]
    if unknown or not codes:
        raise argparse.ArgumentTypeError(
            f"unknown department(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {','.join(DEPARTMENT_CODES)}"
        )
    return list(dict.fromkeys(codes))


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 60:
        raise argparse.ArgumentTypeError(f"expected seconds from 0 to 60, got {text!r}")
    return value


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--departments", type=parse_departments, default=list(DEPARTMENT_CODES),
        help="comma-separated department codes (default: all 18)",
    )  # fmt: skip
    parser.add_argument(
        "--delay", type=float, default=2.0,
        help="seconds before deciding (2; each decision after 0.5-1.5x this)",
    )  # fmt: skip
    parser.add_argument("--approve", type=float, default=0.8, help="share approved (0.8)")
    parser.add_argument("--supplement", type=float, default=0.1, help="share supplement (0.1)")
    parser.add_argument("--reject", type=float, default=0.1, help="share rejected (0.1)")
    parser.add_argument("--seed", type=int, help="random seed, for a repeatable run")
    parser.add_argument(
        "--commit-interval", type=_seconds, default=DEFAULT_COMMIT_INTERVAL_S,
        help="seconds between offset commits (1; 0 commits after every poll)",
    )  # fmt: skip
    parser.add_argument(
        "--auto-supplement", action=argparse.BooleanOptionalAction, default=True,
        help="also act as the enterprise: supply requested materials over HTTP (default on)",
    )  # fmt: skip
    parser.add_argument("--bootstrap", help="Kafka bootstrap (default KAFKA_BOOTSTRAP_SERVERS)")
    parser.add_argument("--approval-url", help="approval-svc base URL (default from APPROVAL_*)")
    parser.add_argument("--quiet", action="store_true", help="periodic summaries only")
    parser.set_defaults(func=main)


def _approval_url(args: argparse.Namespace) -> str:
    if args.approval_url:
        return str(args.approval_url).rstrip("/")
    settings = build_settings(ApprovalSettings)
    host = "127.0.0.1" if settings.host in ("", "0.0.0.0", "::") else settings.host
    return f"http://{host}:{settings.port}"


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.ERROR)  # 18 clients' reconnect chatter
    try:
        chooser = DecisionChooser(args.approve, args.supplement, args.reject)
    except ValueError as exc:
        print(f"error: {exc}", flush=True)
        return 2
    bootstrap = args.bootstrap or get_platform_settings().bootstrap_servers
    stop = threading.Event()
    reporter = Reporter(quiet=args.quiet)
    enterprise: EnterpriseAgent | None = None
    secret = os.environ.get("PLATFORM_JWT_SECRET", "")
    if not secret:  # each client mints its decision token from it (DecisionTokens)
        print("PLATFORM_JWT_SECRET is not set: decisions are unsigned and refused", flush=True)
    if args.auto_supplement and not secret:
        print("PLATFORM_JWT_SECRET is not set: --auto-supplement is off", flush=True)
    elif args.auto_supplement:
        enterprise = EnterpriseAgent(
            _approval_url(args), secret, delay_s=args.delay, stop=stop, reporter=reporter
        )

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        workers, producer = start_departments(
            bootstrap, args.departments, chooser, delay_s=args.delay, stop=stop,
            seed=args.seed, reporter=reporter, enterprise=enterprise,
            commit_interval_s=args.commit_interval,
        )  # fmt: skip
    except Exception as exc:
        print(f"error: cannot reach the broker at {bootstrap}: {exc}", flush=True)
        return 1
    if enterprise is not None:
        enterprise.start()
    shares = f"approve {args.approve:g} / supplement {args.supplement:g} / reject {args.reject:g}"
    print(
        f"simulating {len(workers)} department systems on {bootstrap} (delay {args.delay:g}s, "
        f"{shares}); enterprise auto-supplement "
        + (f"on via {enterprise.base_url}" if enterprise else "off"),
        flush=True,
    )
    try:
        while not stop.wait(0.5):
            reporter.tick()
    finally:
        stop.set()
        stop_departments(workers, producer)
        if enterprise is not None:
            enterprise.join(timeout=10)
            enterprise.close()
        for sig, old in previous.items():
            signal.signal(sig, old)
    reporter.tick(force=True)
    failed = [w for w in workers if w.error is not None]
    print(f"simulator stopped: {reporter.total} decisions", flush=True)
    return 1 if failed else 0
