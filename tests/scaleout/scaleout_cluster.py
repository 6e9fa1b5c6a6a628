"""Two (or more) instances of every service against one embedded broker and one PostgreSQL
database per service: the same consumer groups, different HTTP ports, as real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from prometheus_client.parser import text_string_to_metric_families

from services.broker import EmbeddedBroker
from shared.broker import ensure_topics
from shared.topics import all_topics
from testkit import TEST_JWT_SECRET, create_database, eventually_sync, free_port

SERVICES = {"approval": "approval_svc", "supervision": "supervision_svc", "notify": "notify_svc"}
PARTITIONS = 4


@dataclass
class Instance:
    """One service process."""

    service: str
    name: str  # e.g. "approval-b"
    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no lease handed back, no offsets committed."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def metric_samples(self, sample: str) -> list[tuple[dict[str, str], float]]:
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        return [
            (dict(s.labels), s.value)
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == sample
        ]

    def metric(self, sample: str, **labels: str) -> float:
        return sum(
            value
            for have, value in self.metric_samples(sample)
            if all(have.get(k) == v for k, v in labels.items())
        )

    def partitions(self) -> set[tuple[str, int]]:
        """The (topic, partition) pairs this instance's consumer holds and has fetched from (its
        consumer-lag series: a replica exports only the partitions assigned to it)."""
        return {
            (labels["topic"], int(labels["partition"]))
            for labels, _ in self.metric_samples("consumer_lag_messages")
        }


@dataclass
class Cluster:
    workdir: Path
    replicas: int = 2
    broker_port: int = field(default_factory=free_port)
    broker: EmbeddedBroker | None = None
    instances: dict[str, list[Instance]] = field(default_factory=dict)
    drops: list[Callable[[], None]] = field(default_factory=list)
    database_urls: dict[str, str] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.broker_port}"

    def live(self, service: str) -> list[Instance]:
        return [i for i in self.instances[service] if i.alive]

    def relay_holder(self, service: str) -> Instance | None:
        """The live instance whose outbox relay holds the lease (its owner names its pid)."""
        with psycopg.connect(self.database_urls[service]) as conn:
            row = conn.execute("SELECT owner FROM outbox_lease WHERE expires_at > now()").fetchone()
        if row is None:
            return None
        pid = int(str(row[0]).split(":")[1])  # host:pid:nonce
        return next((i for i in self.live(service) if i.proc.pid == pid), None)

    def start(self) -> Cluster:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.broker = EmbeddedBroker(
            port=self.broker_port, log_path=self.workdir / "broker.log"
        ).start()
        ensure_topics(self.bootstrap, all_topics(), PARTITIONS)
        base = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_TOPIC_PARTITIONS": str(PARTITIONS),
            "PLATFORM_JWT_SECRET": TEST_JWT_SECRET,
            "PLATFORM_LOG_LEVEL": "WARNING",
        }
        for service, package in SERVICES.items():
            url, drop = create_database(service, self.workdir)
            self.drops.append(drop)
            self.database_urls[service] = url
            base[f"{service.upper()}_DATABASE_URL"] = url
        for package in SERVICES.values():  # once per database, as the migration Job does
            subprocess.run(
                [sys.executable, "-m", package, "migrate"],
                env={**base, "PLATFORM_DATA_DIR": str(self.workdir / "migrate")},
                check=True,
            )
        for service, package in SERVICES.items():
            self.instances[service] = []
            for n in range(self.replicas):
                name = f"{service}-{'abcdefgh'[n]}"
                port = free_port()
                env = {
                    **base,
                    f"{service.upper()}_PORT": str(port),
                    # Per instance: faust keeps its local state under the data dir.
                    "PLATFORM_DATA_DIR": str(self.workdir / name),
                }
                log_path = self.workdir / f"{name}.log"
                with log_path.open("wb") as log:
                    proc = subprocess.Popen(
                        [sys.executable, "-m", package, "serve"],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                self.instances[service].append(
                    Instance(service, name, f"http://127.0.0.1:{port}", proc, log_path)
                )
        self.wait_ready()
        return self

    def wait_ready(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s  # for all of them together
        for instances in self.instances.values():
            for instance in instances:

                def ready(instance: Instance = instance) -> bool:
                    if not instance.alive:
                        raise RuntimeError(f"{instance.name} exited: {instance.log_tail()}")
                    try:
                        return httpx.get(f"{instance.url}/readyz", timeout=3).status_code == 200
                    except httpx.HTTPError:
                        return False

                eventually_sync(
                    ready,
                    timeout_s=max(deadline - time.monotonic(), 0),
                    interval_s=0.3,
                    what=f"{instance.name} ready",
                )

    def stop(self) -> None:
        everything = [i for instances in self.instances.values() for i in instances]
        for instance in everything:
            if instance.alive:
                os.killpg(instance.proc.pid, signal.SIGTERM)
        for instance in everything:
            try:
                instance.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(instance.proc.pid, signal.SIGKILL)
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
        for drop in self.drops:
            drop()
