"""Helpers of the notify integration tests (a module with a unique name, unlike conftest)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from kafka import KafkaProducer

import notify_svc
from shared.auth import mint_token
from shared.events import CloudEvent, new_event

MIGRATIONS = Path(notify_svc.__file__).parent / "migrations"
SECRET = "test-secret"
MAX_ATTEMPTS = 3
T = TypeVar("T")


def token(role: str, *, credit_code: str | None = None, department: str | None = None) -> str:
    return mint_token(
        SECRET, sub=f"test-{role}", role=role, credit_code=credit_code, department=department
    )


def auth(role: str, **claims: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, **claims)}"}


OPS = {"role": "ops"}


@dataclass
class Notify:
    app: Any
    client: httpx.AsyncClient
    bootstrap: str
    producer: KafkaProducer

    async def produce(self, topic: str, *events: CloudEvent) -> None:
        def send() -> None:
            for event in events:
                self.producer.send(topic, key=(event.subject or "").encode(), value=event.to_json())
            self.producer.flush(timeout=30)

        await asyncio.to_thread(send)

    async def get(self, path: str, headers: dict[str, str], **params: Any) -> httpx.Response:
        return await self.client.get(path, headers=headers, params=params)

    async def deliveries(self, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
        response = await self.get("/api/v1/deliveries", headers, limit=500, **params)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def subscribe(self, headers: dict[str, str], **body: Any) -> dict[str, Any]:
        response = await self.client.post("/api/v1/subscriptions", headers=headers, json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, within: float = 60.0, what: str = "condition"
) -> T:
    """Poll `probe` until it returns something truthy (bounded)."""
    deadline = time.monotonic() + within
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {within}s waiting for {what}; last: {last!r}")


# --- events --------------------------------------------------------------------------------

_serial = iter(range(10_000, 99_999))


def project_code() -> str:
    """A fresh project code per call (tests share the broker's topics)."""
    stamp = datetime.now(UTC)
    return f"{stamp:%y%m}-110105-{next(_serial) % 100:02d}-01-{next(_serial):05d}X"


def credit_code() -> str:
    """A fresh enterprise per test: consumers of earlier tests' topics see all history."""
    return ("91" + uuid.uuid4().hex.upper())[:18]


def department_code() -> str:
    """A fresh department code per test (the service does not check the catalogue)."""
    return "T" + uuid.uuid4().hex[:7].upper()


def task(code: str, department: str, n: int = 1) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return {
        "task_id": f"{code}-T{n}",
        "project_code": code,
        "department": department,
        "matter_code": f"{department}-M1",
        "matter_name": "a matter",
        "status": "pending",
        "assigned_at": now,
        "due_at": now,
        "promised_due_at": now,
    }


def project(code: str, credit_code: str, departments: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "project_code": code,
        "credit_code": credit_code,
        "name": "test project",
        "region_code": "110105",
        "industry_code": "C3011",
        "procedure": "verification",
        "status": "in_review",
        "total_investment": "12000000.00",
        "submitted_at": datetime.now(UTC).isoformat(),
        "tasks": [task(code, d, i) for i, d in enumerate(departments, start=1)],
    }


def event(
    event_type: str, code: str, data: dict[str, Any], source: str = "approval-svc"
) -> CloudEvent:
    return new_event(type=event_type, source=source, subject=code, data=data)


def alert(code: str, **extra: Any) -> dict[str, Any]:
    return {
        "alert_id": f"A-{code}",
        "project_code": code,
        "kind": "start_overdue",
        "level": "yellow",
        "raised_at": datetime.now(UTC).isoformat(),
        "detail": "no start report",
        **extra,
    }


# --- a real HTTP receiver ------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    base_url: str
    requests: list[Received] = field(default_factory=list)

    def to(self, path: str) -> list[Received]:
        return [r for r in list(self.requests) if r.path == path]


def body_json(received: Received) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(received.body)
    return parsed
