"""Helpers of the supervision integration tests: tokens, test data, the bus, polling.

Each test gets its own database and consumer group. The group reads `approval.projects` from
the beginning, so events of earlier tests are projected too: tests identify their own data by
unique project codes, credit codes and (for aggregate counts) a department code of their own.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

import supervision_svc
from shared.auth import mint_token
from shared.events import CloudEvent, new_event

SECRET = "supervision-test-secret-0123456789abcdef"  # >= 32 bytes for HS256
MIGRATIONS = Path(supervision_svc.__file__).parent / "migrations"
WAIT_S = 30.0


def token(role: str, **claims: str) -> dict[str, str]:
    jwt = mint_token(SECRET, sub=f"{role}-user", role=role, **claims)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {jwt}"}


OPS = token("ops")


def unique_project_code() -> str:
    serial = uuid.uuid4().int % 10**6
    return f"2505-110105-04-01-{serial:06d}"


def unique_credit_code() -> str:
    return "91" + uuid.uuid4().hex[:16].upper()


def unique_department() -> str:
    return "T" + uuid.uuid4().hex[:8].upper()


def task_json(
    code: str,
    *,
    department: str = "MEE",
    status: str = "pending",
    assigned_at: datetime,
    due_at: datetime,
    decided_at: datetime | None = None,
    decision: str | None = None,
    task_id: str | None = None,
) -> dict[str, Any]:
    return {
        "task_id": task_id or f"{code}-{department}-{uuid.uuid4().hex[:4]}",
        "project_code": code,
        "department": department,
        "matter_code": f"{department}-MATTER",
        "matter_name": f"{department} matter",
        "status": status,
        "assigned_at": assigned_at.isoformat(),
        "due_at": due_at.isoformat(),
        "promised_due_at": due_at.isoformat(),
        "paused_days": 0,
        "decided_at": decided_at.isoformat() if decided_at else None,
        "decision": decision,
    }


def project_json(
    code: str,
    *,
    credit_code: str = "91440300708461136T",
    status: str = "in_review",
    tasks: list[dict[str, Any]] | None = None,
    submitted_at: datetime | None = None,
) -> dict[str, Any]:
    return {
        "project_code": code,
        "credit_code": credit_code,
        "name": f"Project {code}",
        "region_code": "110105",
        "industry_code": "C26",
        "procedure": "verification",
        "status": status,
        "total_investment": "120000000.00",
        "planned_start": "2025-09-01",
        "submitted_at": (submitted_at or datetime.now(UTC)).isoformat(),
        "tasks": tasks or [],
    }


def approval_event(event_type: str, code: str, data: Any) -> CloudEvent:
    return new_event(type=event_type, source="/approval-svc", subject=code, data=data)


class Bus:
    """Publishes to and reads from the test broker with kafka-python (any client would do)."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self._producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")

    def _send(self, topic: str, key: str | None, value: bytes) -> None:
        self._producer.send(topic, key=key.encode() if key else None, value=value)
        self._producer.flush(timeout=10)

    async def publish(self, topic: str, event: CloudEvent) -> None:
        await asyncio.to_thread(self._send, topic, event.subject, event.to_json())

    async def publish_raw(self, topic: str, key: str | None, value: bytes) -> None:
        await asyncio.to_thread(self._send, topic, key, value)

    def _read(self, topic: str, match: Callable[[bytes], bool], timeout_s: float) -> list[bytes]:
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None)
        try:
            partitions = [
                TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()
            ]
            consumer.assign(partitions)
            consumer.seek_to_beginning(*partitions)
            found: list[bytes] = []
            deadline = time.monotonic() + timeout_s
            # Caught up = a poll that brings nothing. (end_offsets() cannot tell: the embedded
            # broker answers ListOffsets(latest) with the base offset of the last batch.)
            while time.monotonic() < deadline:
                batch = consumer.poll(timeout_ms=500)
                for records in batch.values():
                    found.extend(r.value for r in records if match(r.value))
                if found and not batch:
                    return found
            return found
        finally:
            consumer.close()

    async def read(
        self, topic: str, match: Callable[[bytes], bool], timeout_s: float = WAIT_S
    ) -> list[bytes]:
        """Every message of `topic` that `match`es (waits until at least one is there)."""
        return await asyncio.to_thread(self._read, topic, match, timeout_s)

    def close(self) -> None:
        self._producer.close(timeout=5)


async def eventually(
    probe: Callable[[], Awaitable[Any]], *, timeout_s: float = WAIT_S, what: str = "condition"
) -> Any:
    """Poll `probe` until it returns something truthy (bounded)."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}; last: {last!r}")


def days(n: float) -> timedelta:
    return timedelta(days=n)


def dlq_record_for(marker: str) -> Callable[[bytes], bool]:
    return lambda value: marker in value.decode("utf-8", errors="replace")


def parse(value: bytes) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(value)
    return loaded
