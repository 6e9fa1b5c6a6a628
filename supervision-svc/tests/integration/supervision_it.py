"""Test data of the supervision integration tests: approval's projects and tasks, as JSON.

Each test gets a region of its own (the test kit's `region_code` fixture), so its project
codes (and event keys) are its own; aggregate counts are read for a department code of its own,
since every test's consumer group reads `approval.projects` from the beginning.
"""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stdnum.cn import uscc

import supervision_svc
from shared.events import CloudEvent, EventType, new_event
from shared.topics import DEPARTMENT_CODES
from testkit import auth_headers

MIGRATIONS = Path(supervision_svc.__file__).parent / "migrations"

OPS = auth_headers("ops")


def project_code(region: str, serial: int = 1) -> str:
    return f"2505-{region}-04-01-{serial:06d}"


def unique_credit_code() -> str:
    base = f"91440300{uuid.uuid4().int % 10**9:09d}"  # tokens need a valid credit code
    return base + uscc.calc_check_digit(base)


_DEPARTMENTS = itertools.cycle(random.sample(DEPARTMENT_CODES, len(DEPARTMENT_CODES)))


def unique_department() -> str:
    """A catalogue department (tokens must name one) that the previous few tests did not use."""
    return next(_DEPARTMENTS)


def days(n: float) -> timedelta:
    return timedelta(days=n)


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
        "region_code": code.split("-")[1],
        "industry_code": "C26",
        "procedure": "verification",
        "status": status,
        "total_investment": "120000000.00",
        "planned_start": "2025-09-01",
        "submitted_at": (submitted_at or datetime.now(UTC)).isoformat(),
        "tasks": tasks or [],
    }


def approval_event(event_type: EventType, code: str, data: Any) -> CloudEvent:
    return new_event(type=event_type, source="/approval-svc", subject=code, data=data)
