"""Helpers of the notify integration tests (a module with a unique name, unlike conftest)."""

from __future__ import annotations

import email
import email.policy
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from stdnum.cn import uscc

import notify_svc
from notify_svc.domain import BUILTIN_LOG_SUBSCRIPTION
from shared.events import CloudEvent, EventType, new_event
from testkit import aproduce_events, auth_headers, eventually, free_port

MIGRATIONS = Path(notify_svc.__file__).parent / "migrations"
MAX_ATTEMPTS = 3
SENTINEL_TYPE = EventType.REPORT_FILED


def ops() -> dict[str, str]:
    return auth_headers("ops")


@dataclass
class Notify:
    app: Any
    client: httpx.AsyncClient
    bootstrap: str

    async def produce(self, topic: str, *events: CloudEvent) -> None:
        """Publish in order, keyed by subject (the project code), acknowledged by the broker."""
        await aproduce_events(self.bootstrap, topic, events)

    async def consumed(self, topic: str, code: str) -> str:
        """Everything published so far on `topic` about project `code` has been ingested.

        Publishes a sentinel on the same key (so the same partition, consumed in order after
        the events before it) and waits for its log delivery; returns its id (a sentinel is
        delivered like any event: leave it out of what a test compares).
        """
        sentinel = event(SENTINEL_TYPE, code, {"project_code": code}, source="/test-sentinel")
        await self.produce(topic, sentinel)

        async def logged() -> bool:
            items = await self.deliveries(
                ops(), subscription_id=BUILTIN_LOG_SUBSCRIPTION, project_code=code
            )
            return any(i["event_id"] == sentinel.id for i in items)

        await eventually(logged, timeout_s=60, what=f"the sentinel of {topic}/{code}")
        return sentinel.id

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


# --- events --------------------------------------------------------------------------------


def project_code(region: str, n: int = 1) -> str:
    """Project `n` of a test: each test has its own region (`region_code`), so its own codes."""
    return f"{datetime.now(UTC):%y%m}-{region}-{n:02d}-01-{uuid.uuid4().int % 10**5:05d}X"


def credit_code() -> str:
    """A fresh enterprise per test: consumers of earlier tests' topics see all history."""
    base = f"91440300{uuid.uuid4().int % 10**9:09d}"  # tokens need a valid credit code
    return base + uscc.calc_check_digit(base)


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
        "region_code": code.split("-")[1],
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


# --- a real SMTP server --------------------------------------------------------------------


class MailSink:
    """aiosmtpd on 127.0.0.1; the messages it accepted, parsed."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self._controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in list(self.messages) if m["To"] == address]
