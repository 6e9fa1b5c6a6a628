"""The platform for a benchmark run: embedded broker, three services, process sampling.

Started the way `python -m services up` starts it (``services.stack`` / ``services.supervisor``:
each child in its own process group, killed by the kernel if this process dies), but on free
ports, with a fresh data directory in a temporary folder and logs in files, not the console.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import psutil
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from services import stack
from services.broker import EmbeddedBroker, free_port
from services.output import Output
from services.supervisor import ChildSpec, Supervisor
from shared.broker import ensure_topics
from shared.settings import get_platform_settings
from shared.topics import all_topics

PG_SERVER = os.environ.get("BENCH_POSTGRES_SERVER", "postgresql://postgres@127.0.0.1:5432")
"""Where `--database postgres` creates its databases (trust auth; `test` is the maintenance
database it connects to for CREATE/DROP DATABASE)."""

DATABASE_ENV = {
    "approval-svc": "APPROVAL_DATABASE_URL",
    "supervision-svc": "SUPERVISION_DATABASE_URL",
    "notify-svc": "NOTIFY_DATABASE_URL",
}


def pg_admin(statement: str) -> None:
    """One statement on the maintenance database, outside a transaction (CREATE DATABASE)."""
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/test", autocommit=True) as conn:
        conn.execute(statement)


@dataclass
class ProcessStats:
    name: str
    pid: int
    peak_rss: int = 0
    cpu_start: float = 0.0
    cpu_end: float = 0.0

    @property
    def cpu_seconds(self) -> float:
        return max(0.0, self.cpu_end - self.cpu_start)


_PROCS: dict[int, psutil.Process] = {}


def _proc(pid: int) -> psutil.Process | None:
    """The process itself (not its children: py-spy, when profiling, is a child of the bench)."""
    try:
        if pid not in _PROCS:
            _PROCS[pid] = psutil.Process(pid)
        return _PROCS[pid]
    except psutil.Error:
        return None


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (0 once it is gone)."""
    proc = _proc(pid)
    if proc is None:
        return 0.0
    with contextlib.suppress(psutil.Error):
        times = proc.cpu_times()
        return float(times.user + times.system)
    return 0.0


class Sampler(threading.Thread):
    """Peak RSS of each watched process, sampled every interval; CPU time between marks."""

    def __init__(self, pids: dict[str, int], interval_s: float = 0.25) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.stats = {name: ProcessStats(name, pid) for name, pid in pids.items()}
        self.interval_s = interval_s
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.interval_s):
            self.sample()

    def sample(self) -> None:
        for stat in self.stats.values():
            proc = _proc(stat.pid)
            if proc is not None:
                with contextlib.suppress(psutil.Error):
                    stat.peak_rss = max(stat.peak_rss, int(proc.memory_info().rss))

    def cpu_now(self) -> dict[str, float]:
        """CPU seconds (user + system) each watched process has used so far."""
        return {name: process_cpu_seconds(stat.pid) for name, stat in self.stats.items()}

    def mark_start(self) -> None:
        for stat in self.stats.values():
            stat.cpu_start = process_cpu_seconds(stat.pid)

    def mark_end(self) -> None:
        for stat in self.stats.values():
            stat.cpu_end = process_cpu_seconds(stat.pid)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=2)
        self.sample()


@dataclass
class RawRate:
    messages: int
    size: int
    produce_s: float
    consume_s: float

    @property
    def msgs_per_s(self) -> float:
        """Messages through the broker per second: produced, then consumed, timed end to end."""
        return self.messages / (self.produce_s + self.consume_s)


def raw_broker_rate_isolated(bootstrap: str, messages: int, size: int, partitions: int) -> RawRate:
    """`raw_broker_rate` in a fresh process, so its buffers do not count in this one's RSS."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        result: RawRate = pool.apply(raw_broker_rate, (bootstrap, messages, size, partitions))
    return result


def raw_broker_rate(bootstrap: str, messages: int, size: int, partitions: int) -> RawRate:
    """Produce then consume `messages` plain messages of `size` bytes with kafka-python."""
    topic = f"bench.raw.{secrets.token_hex(4)}"
    ensure_topics(bootstrap, [topic], partitions)
    payload = (secrets.token_hex(size))[:size].encode()
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, batch_size=512 * 1024
    )
    started = time.perf_counter()
    for _ in range(messages):
        producer.send(topic, payload)
    producer.flush()
    produce_s = time.perf_counter() - started
    producer.close()
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, max_poll_records=10_000,
        fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=8 * 1024 * 1024,
    )  # fmt: skip
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    seen = 0
    started = time.perf_counter()
    deadline = started + 300
    while seen < messages and time.perf_counter() < deadline:
        for batch in consumer.poll(timeout_ms=500, max_records=10_000).values():
            seen += len(batch)
    consume_s = time.perf_counter() - started
    consumer.close()
    if seen < messages:
        raise RuntimeError(f"raw test: consumed {seen} of {messages} messages")
    return RawRate(messages, size, produce_s, consume_s)


@dataclass
class Platform:
    """A running platform; ``urls`` by service name, ``pids`` of every process it started."""

    broker: EmbeddedBroker
    supervisor: Supervisor
    workdir: Path
    urls: dict[str, str] = field(default_factory=dict)
    secret: str = ""

    @property
    def bootstrap(self) -> str:
        return str(self.broker.bootstrap)

    @property
    def pids(self) -> dict[str, int]:
        pids = dict(self.supervisor.pids)
        if self.broker.pid is not None:
            pids["broker"] = self.broker.pid
        return pids


class BenchPlatform:
    """``with BenchPlatform(...) as platform:`` the broker and services, stopped on exit."""

    def __init__(
        self, *, database: str = "sqlite", keep: bool = False, log: Output | None = None
    ) -> None:
        self.database = database
        self.keep = keep
        self.log = log or Output()
        self.workdir = Path(tempfile.mkdtemp(prefix="approval-bench-"))
        self._log_file = (self.workdir / "platform.log").open("w", encoding="utf-8")
        self._broker: EmbeddedBroker | None = None
        self._sup = Supervisor(Output(self._log_file, colour=False), stop_timeout_s=10)
        self._saved_env: dict[str, str | None] = {}
        self.platform: Platform | None = None
        self._pg_databases: list[str] = []

    @property
    def bootstrap(self) -> str:
        if self._broker is None:
            raise RuntimeError("the broker is not started")
        return str(self._broker.bootstrap)

    def _set_env(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def start_broker(self) -> EmbeddedBroker:
        self._broker = EmbeddedBroker(port=0, log_path=self.workdir / "broker.log")
        self._broker.start()
        partitions = get_platform_settings().topic_partitions
        ensure_topics(self._broker.bootstrap, all_topics(), partitions)
        return self._broker

    def start_services(self) -> Platform:
        broker = self._broker or self.start_broker()
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "PLATFORM_DATA_DIR": str(self.workdir / "data"),
            "PLATFORM_JWT_SECRET": secrets.token_urlsafe(32),
            "PLATFORM_LOG_JSON": "false",
            "PLATFORM_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
            "PLATFORM_CLOCK_EPOCH": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        for definition in stack.SERVICES:
            env[definition.port_env] = str(free_port())
        if self.database == "postgres":
            env.update(self._create_pg_databases())
        self._set_env(env)
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        services = stack.resolve_services()
        stack.migrate(self._sup, services)
        children = stack.build_children(services, simulate_departments=False)
        for child in children:
            self._sup.start(child)
        stack.wait_ready(self._sup, children, Output(self._log_file, colour=False), 120)
        self.platform = Platform(
            broker=broker,
            supervisor=self._sup,
            workdir=self.workdir,
            urls={s.definition.name: s.base_url for s in services},
            secret=env["PLATFORM_JWT_SECRET"],
        )
        return self.platform

    def start_departments(self, departments: list[str]) -> int:
        """The department simulator as a child process, approving every task at once."""
        argv = [sys.executable, "-m", "services", "simulate-departments", "--delay", "0",
                "--approve", "1", "--supplement", "0", "--reject", "0", "--no-auto-supplement",
                "--quiet", "--departments", ",".join(departments)]  # fmt: skip
        self._sup.start(ChildSpec("departments", argv, may_exit=True))
        return self._sup.pids["departments"]

    def _create_pg_databases(self) -> dict[str, str]:
        """A fresh PostgreSQL database per service (dropped again by `stop`)."""
        tag = secrets.token_hex(4)
        urls: dict[str, str] = {}
        for service, variable in DATABASE_ENV.items():
            name = f"bench_{service.split('-')[0]}_{tag}"
            pg_admin(f'CREATE DATABASE "{name}"')
            self._pg_databases.append(name)
            urls[variable] = f"{PG_SERVER}/{name}"
        return urls

    def _drop_pg_databases(self) -> None:
        for name in self._pg_databases:
            try:
                pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as exc:  # report, and go on dropping the others
                print(f"could not drop database {name}: {exc}", file=sys.stderr)
        self._pg_databases.clear()

    def check(self) -> None:
        """Raise if a service died."""
        self._sup.check()

    def stop(self) -> None:
        try:
            self._sup.stop_all()
        finally:
            if self._broker is not None:
                self._broker.stop()
            if not self.keep:
                self._drop_pg_databases()
            elif self._pg_databases:
                print(f"kept PostgreSQL databases {', '.join(self._pg_databases)}", file=sys.stderr)
            for key, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            self._log_file.close()
            if self.keep:
                print(f"kept {self.workdir} (logs, databases)", file=sys.stderr)
            else:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> BenchPlatform:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
