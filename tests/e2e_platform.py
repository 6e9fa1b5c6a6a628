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
from typing import Any

import httpx

from services.broker import EmbeddedBroker, free_port
from shared.auth import mint_token
from shared.broker import ensure_topics
from shared.topics import all_topics
from testkit import create_database

SECRET = "e2e-secret-0123456789abcdef0123456789"
SERVICES = {"approval": "approval_svc", "supervision": "supervision_svc", "notify": "notify_svc"}
PARTITIONS = 3


def token(role: str, **claims: Any) -> str:
    return mint_token(SECRET, sub=f"e2e-{role}", role=role, **claims)


def bearer(role: str, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, **claims)}"}


@dataclass
class Platform:
    workdir: Path
    broker_port: int = field(default_factory=free_port)
    day_seconds: float | None = None
    broker: EmbeddedBroker | None = None
    urls: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    drops: list[Callable[[], None]] = field(default_factory=list)

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
            "PLATFORM_JWT_SECRET": SECRET,
            "PLATFORM_DATA_DIR": str(self.workdir / "data"),
            "PLATFORM_LOG_LEVEL": "WARNING",
            "PLATFORM_CLOCK_EPOCH": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        }
        if self.day_seconds:
            env["PLATFORM_DAY_SECONDS"] = str(self.day_seconds)
        return env

    def start(self) -> Platform:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.start_broker()
        env = self.env()
        for name in SERVICES:
            url, drop = create_database(name, self.workdir)
            self.drops.append(drop)
            port = free_port()
            env[f"{name.upper()}_DATABASE_URL"] = url
            env[f"{name.upper()}_PORT"] = str(port)
            self.urls[name] = f"http://127.0.0.1:{port}"
        for name, package in SERVICES.items():
            subprocess.run([sys.executable, "-m", package, "migrate"], env=env, check=True)
        for name, package in SERVICES.items():
            log = (self.workdir / f"{name}.log").open("wb")
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", package, "serve"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_ready()
        return self

    def wait_ready(self, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        for name, base in self.urls.items():
            while True:
                proc = self.procs[name]
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited: {self.log_tail(name)}")
                try:
                    if httpx.get(f"{base}/readyz", timeout=3).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} never became ready: {self.log_tail(name)}")
                time.sleep(0.3)

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


def wait_until(check: Callable[[], Any], *, timeout_s: float = 60, interval_s: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval_s)
