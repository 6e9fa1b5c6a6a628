"""The real runner (`python -m services up --simulate-departments`) as a subprocess, for the
fault suite: ports, data directory and secret of its own; load, kills and checks over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from services.broker import free_port
from testkit import mint_token

ROOT = Path(__file__).resolve().parents[2]
SECRET = "fault-suite-secret-0123456789abcdef0123"
CREDIT = "91440300708461136T"
SERVICES = ("approval", "supervision", "notify")
SIMULATOR = "--delay 0.5 --approve 0.85 --supplement 0 --reject 0.15 --quiet"
FINAL = frozenset({"approved", "rejected"})


def project_body(n: int) -> dict[str, Any]:
    return {
        "name": f"Fault-suite plant {n}",
        "region_code": "510107",
        "industry_code": "D4416",
        "procedure": "verification",
        "total_investment": "880000000",
        "location": "Chengdu, Wuhou district",
        "planned_start": "2027-06-01",
        "description": "120 MW photovoltaic plant",
        "eia_category": "table",
        "land": {"needs_new_land": n % 2 == 0, "area_m2": "42000"},
    }


@dataclass
class RunnerProcess:
    workdir: Path
    ports: dict[str, int] = field(default_factory=dict)
    proc: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)

    def start(self, timeout_s: float = 180.0) -> RunnerProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ports = {name: free_port() for name in ("broker", *SERVICES)}
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PLATFORM_", "KAFKA_", "APPROVAL_", "SUPERVISION_", "NOTIFY_"))
        }
        env.update(
            PLATFORM_JWT_SECRET=SECRET,
            PLATFORM_DATA_DIR=str(self.workdir / "data"),
            PLATFORM_LOG_LEVEL="WARNING",
            BROKER_PORT=str(self.ports["broker"]),
            NO_COLOR="1",
            KAFKA_TOPIC_PARTITIONS="3",
        )
        for name in SERVICES:
            env[f"{name.upper()}_PORT"] = str(self.ports[name])
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services", "up", "--simulate-departments",
             "--simulate-options", SIMULATOR],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for("Press Ctrl-C", timeout_s)
        return self

    def _read(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        log = (self.workdir / "runner.log").open("w")
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            log.write(line)
            log.flush()

    def wait_for(self, needle: str, timeout_s: float, *, after: int = 0) -> float:
        """Wait for a line containing `needle` (from line `after` on); the time it was seen."""
        deadline = time.monotonic() + timeout_s
        while not any(needle in line for line in self.lines[after:]):
            assert self.proc is not None
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(self.lines[-40:])
                raise AssertionError(f"{needle!r} not seen in {timeout_s}s; runner output:\n{tail}")
            time.sleep(0.1)
        return time.monotonic()

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def child(self, name: str) -> psutil.Process:
        """The runner's child process called `name` (a service, the broker or the simulator)."""
        assert self.proc is not None
        needles = {
            "broker": "tansu",
            "simulator": "simulate-departments",
            **{s: f"{s}_svc" for s in SERVICES},
        }
        for proc in psutil.Process(self.proc.pid).children():
            try:
                cmd = " ".join(proc.cmdline())
            except psutil.Error:
                continue
            if needles[name] in cmd and ("serve" in cmd or name in ("broker", "simulator")):
                return proc
        raise AssertionError(f"no running {name} child")

    def stop(self, timeout_s: float = 60.0) -> tuple[int | None, float]:
        """SIGTERM to the runner's process group; its exit code and the seconds it took."""
        if self.proc is None:
            return None, 0.0
        started = time.monotonic()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            code = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            code = None
        return code, time.monotonic() - started


class Client:
    """HTTP side of the fault suite: submit with retries, read the three services."""

    def __init__(self, run: RunnerProcess) -> None:
        self.run = run
        self.http = httpx.Client(timeout=10, trust_env=False)
        self.enterprise = {"Authorization": "Bearer " + mint_token(
            "enterprise", credit_code=CREDIT, secret=SECRET)}  # fmt: skip
        self.ops = {"Authorization": "Bearer " + mint_token("ops", secret=SECRET)}

    def close(self) -> None:
        self.http.close()

    def submit(self, n: int, *, give_up_s: float = 90.0) -> str | None:
        """Submit until accepted, as a careful client does (one Idempotency-Key throughout)."""
        key = str(uuid.uuid4())
        deadline = time.monotonic() + give_up_s
        while time.monotonic() < deadline:
            try:
                response = self.http.post(
                    f"{self.run.url('approval')}/api/v1/projects",
                    json=project_body(n),
                    headers={**self.enterprise, "Idempotency-Key": key},
                )
            except httpx.HTTPError:
                time.sleep(0.5)
                continue
            if response.status_code == 201:
                return str(response.json()["project_code"])
            if response.status_code < 500:
                raise AssertionError(f"submission refused: {response.status_code} {response.text}")
            time.sleep(0.5)
        return None

    def get(self, service: str, path: str, **params: Any) -> Any:
        response = self.http.get(f"{self.run.url(service)}{path}", params=params, headers=self.ops)
        response.raise_for_status()
        return response.json()

    def ready(self, service: str) -> bool:
        try:
            return self.http.get(f"{self.run.url(service)}/readyz").status_code == 200
        except httpx.HTTPError:
            return False


def wait_until(check: Callable[[], Any], timeout_s: float, interval_s: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            result = check()
        except httpx.HTTPError:
            result = None
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval_s)
