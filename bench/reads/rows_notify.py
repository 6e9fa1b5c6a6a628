"""Rows per service: notify-svc (subscriptions and their deliveries)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from bench.reads.world import SPAN_DAYS, SeedProject
from services.samples import CREDIT_CODES
from shared.events import EventType

NOTIFY_DEPARTMENTS = ("NDRC", "MEE", "NCHA")  # departments with a webhook subscription


def notify_subscriptions(now: datetime) -> list[dict[str, Any]]:
    """Each enterprise a webhook (every project event) and an e-mail (final results), three
    departments a webhook, ops two; one deleted subscription per kind of owner."""
    subs = []
    created = now - timedelta(days=SPAN_DAYS + 10)
    project_events = sorted(t.value for t in EventType if t.value.startswith("project."))
    finals = [EventType.PROJECT_APPROVED.value, EventType.PROJECT_REJECTED.value]
    task_events = [EventType.TASK_ASSIGNED.value, EventType.TASK_WITHDRAWN.value]

    def sub(
        key: str,
        owner: str,
        role: str,
        channel: str,
        types: list[str],
        *,
        credit_code: str | None = None,
        department: str | None = None,
        deleted: bool = False,
    ) -> dict[str, Any]:
        return {
            "id": f"sub-{key}",
            "owner": owner,
            "owner_role": role,
            "owner_credit_code": credit_code,
            "owner_department": department,
            "created_by": f"{owner}-admin",
            "channel": channel,
            "target": f"https://hooks.example.com/{key}"
            if channel == "webhook"
            else f"{key}@example.com",
            "event_types": types,
            "secret": uuid.uuid4().hex,
            "created_at": created,
            "deleted_at": now - timedelta(days=100) if deleted else None,
        }

    for i, cc in enumerate(CREDIT_CODES):
        owner = f"enterprise:{cc}"
        subs.append(
            sub(f"e{i}-hook", owner, "enterprise", "webhook", project_events, credit_code=cc)
        )
        subs.append(sub(f"e{i}-mail", owner, "enterprise", "email", finals, credit_code=cc))
        if i == 0:
            subs.append(
                sub("e0-old", owner, "enterprise", "webhook", finals, credit_code=cc, deleted=True)
            )
    for dept in NOTIFY_DEPARTMENTS:
        subs.append(
            sub(f"d-{dept}", f"department:{dept}", "department", "webhook", task_events,
                department=dept)
        )  # fmt: skip
    subs.append(sub("ops-rejected", "ops", "ops", "webhook", [EventType.PROJECT_REJECTED.value]))
    subs.append(sub("ops-withdrawn", "ops", "ops", "email", [EventType.PROJECT_WITHDRAWN.value]))
    return subs


def notify_rows(
    projects: Sequence[SeedProject], now: datetime, rng: random.Random
) -> dict[str, list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    index = {c: i for i, c in enumerate(CREDIT_CODES)}

    def deliver(sub_id: str, channel: str, event_type: str, code: str, at: datetime) -> None:
        at = at + timedelta(milliseconds=rng.randint(20, 900))
        roll = rng.random()
        status = (
            "pending"
            if at > now - timedelta(minutes=5)
            else "failed"
            if roll < 0.02
            else "delivered"
        )
        attempts = 5 if status == "failed" else 0 if status == "pending" else 1
        log = [
            {
                "attempt": k + 1,
                "at": (at + timedelta(seconds=2**k)).isoformat(),
                "status": "failed" if status == "failed" else "delivered",
                "status_code": 503 if status == "failed" else 200,
            }
            for k in range(attempts)
        ]
        rows.append(
            {
                "delivery_id": str(uuid.uuid4()),
                "subscription_id": sub_id,
                "event_id": str(uuid.uuid4()),
                "event_type": event_type,
                "project_code": code,
                "channel": channel,
                "target": f"https://hooks.example.com/{sub_id}",
                "status": status,
                "attempts": attempts,
                "error": "HTTP 503" if status == "failed" else None,
                "created_at": at,
                "at": at + timedelta(seconds=2 ** max(attempts - 1, 0)),
                "next_attempt_at": at if status == "pending" else None,
                "attempt_log": log,
                "retried_from": 0,
            }
        )

    for p in projects:
        e = index[p.credit_code]
        deliver(
            f"sub-e{e}-hook", "webhook", EventType.PROJECT_SUBMITTED.value, p.code, p.submitted_at
        )
        for t in p.tasks:
            if t.matter.department in NOTIFY_DEPARTMENTS:
                deliver(
                    f"sub-d-{t.matter.department}", "webhook", EventType.TASK_ASSIGNED.value,
                    p.code, t.assigned_at,
                )  # fmt: skip
            if t.supplement_asked_at:
                deliver(
                    f"sub-e{e}-hook", "webhook", EventType.PROJECT_SUPPLEMENT_REQUESTED.value,
                    p.code, t.supplement_asked_at,
                )  # fmt: skip
        if p.closed_at is not None and p.status != "filed":
            final = f"project.{p.status}"
            deliver(f"sub-e{e}-hook", "webhook", final, p.code, p.closed_at)
            if p.status in ("approved", "rejected"):
                deliver(f"sub-e{e}-mail", "email", final, p.code, p.closed_at)
            if p.status == "rejected":
                deliver("sub-ops-rejected", "webhook", final, p.code, p.closed_at)
            if p.status == "withdrawn":
                deliver("sub-ops-withdrawn", "email", final, p.code, p.closed_at)
    rows.sort(key=lambda r: r["created_at"])  # seq in the order they were created
    return {"deliveries": rows}
