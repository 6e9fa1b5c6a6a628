"""The whole platform as real processes, for end-to-end tests: broker + three services."""

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

from services.broker import EmbeddedBroker
from shared.broker import ensure_topics
from shared.topics import all_topics
from testkit import (
    TEST_JWT_SECRET,
    compressed_clock_env,
    create_database,
    eventually_sync,
    free_port,
)

SERVICES = {"approval": "approval_svc", "supervision": "supervision_svc", "notify": "notify_svc"}
PARTITIONS = 3


@dataclass
class Platform:
    workdir: Path
    broker_port: int = field(default_factory=free_port)
    day_seconds: float | None = None
    # Which services to run (all by default); a test of two of them needs no third.
    services: tuple[str, ...] = tuple(SERVICES)
    extra_env: dict[str, str] = field(default_factory=dict)  # for every process
    broker: EmbeddedBroker | None = None
    urls: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    drops: list[Callable[[], None]] = field(default_factory=list)
    env_used: dict[str, str] = field(default_factory=dict)
    # Extra instances (`add_instance`): instance name -> (its service, its own environment).
    instances: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.broker_port}"

    def start_broker(self) -> None:
        self.broker = EmbeddedBroker(
            port=self.broker_port, log_path=self.workdir / "broker.log"
        ).start()
        ensure_topics(self.bootstrap, all_topics(), PARTITIONS)

    def stop_broker(self) -> None:
        if self.broker is not None:
            self.broker.stop()
            self.broker = None

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "PLATFORM_JWT_SECRET": TEST_JWT_SECRET,  # what testkit.auth_headers signs with
            "PLATFORM_DATA_DIR": str(self.workdir / "data"),
            "PLATFORM_LOG_LEVEL": "WARNING",
        }
        if self.day_seconds:
            env.update(compressed_clock_env(self.day_seconds))
        return {**env, **self.extra_env}

    def start(self) -> Platform:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.start_broker()
        env = self.env()
        for name in self.services:
            url, drop = create_database(name, self.workdir)
            self.drops.append(drop)
            port = free_port()
            env[f"{name.upper()}_DATABASE_URL"] = url
            env[f"{name.upper()}_PORT"] = str(port)
            self.urls[name] = f"http://127.0.0.1:{port}"
        self.env_used = env
        for name in self.services:
            subprocess.run([sys.executable, "-m", SERVICES[name], "migrate"], env=env, check=True)
        for name in self.services:
            self.start_service(name)
        self.wait_ready()
        return self

    def add_instance(self, service: str, instance: str, **env: str) -> str:
        """Start one more process of `service`, named `instance`: the same database and consumer
        group, its own port and data directory (`env` adds to its environment); its URL."""
        port = free_port()
        self.instances[instance] = (
            service,
            {
                **self.env_used,
                f"{service.upper()}_PORT": str(port),
                "PLATFORM_DATA_DIR": str(self.workdir / instance),
                **env,
            },
        )
        self.urls[instance] = f"http://127.0.0.1:{port}"
        self.start_service(instance)
        return self.urls[instance]

    def start_service(self, name: str) -> None:
        """Start (or restart) one service's process (or an added instance's, by its name)."""
        service, env = self.instances.get(name, (name, self.env_used))
        log = (self.workdir / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", SERVICES[service], "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill_service(self, name: str) -> None:
        """SIGKILL one service's process group: no shutdown code runs at all."""
        proc = self.procs[name]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def wait_ready(self, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s  # for all of them together
        for name, base in self.urls.items():

            def ready(name: str = name, base: str = base) -> bool:
                if self.procs[name].poll() is not None:
                    raise RuntimeError(f"{name} exited: {self.log_tail(name)}")
                try:
                    return httpx.get(f"{base}/readyz", timeout=3).status_code == 200
                except httpx.HTTPError:
                    return False

            try:
                eventually_sync(
                    ready,
                    timeout_s=max(deadline - time.monotonic(), 0),
                    interval_s=0.3,
                    what=f"{name} ready",
                )
            except AssertionError as exc:
                raise RuntimeError(f"{exc}: {self.log_tail(name)}") from None

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.workdir / f"{name}.log"
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            if path.exists()
            else ""
        )

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.stop_broker()
        for drop in self.drops:
            drop()
