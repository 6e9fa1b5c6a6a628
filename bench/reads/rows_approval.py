"""Rows per service: approval-svc (projects, tasks, the timeline)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bench.reads.world import SeedProject, SeedTask
from shared.events import EventType


def _entry(
    p: SeedProject,
    at: datetime,
    action: str,
    task: SeedTask | None = None,
    *,
    by_department: bool = False,
    **detail: Any,
) -> dict[str, Any]:
    """A timeline row: the enterprise's user, or an officer of the task's department."""
    department = task.matter.department if task is not None else None
    return {
        "project_code": p.code,
        "at": at,
        "action": action,
        "actor": f"{department}-officer-1" if by_department else f"user-{p.credit_code[-6:]}",
        "actor_role": "department" if by_department else "enterprise",
        "task_id": task.task_id if task else None,
        "department": department,
        "detail": detail,
        "event_id": str(uuid.uuid4()),
    }


def approval_rows(projects: Sequence[SeedProject]) -> dict[str, list[dict[str, Any]]]:
    p_rows, t_rows, timeline = [], [], []
    for p in projects:
        last_change = max(
            [p.submitted_at, *(x for t in p.tasks for x in (t.decided_at, t.withdrawn_at) if x)]
        )
        p_rows.append(
            {
                "project_code": p.code,
                "credit_code": p.credit_code,
                "name": p.name,
                "region_code": p.region,
                "industry_code": p.industry,
                "procedure": p.procedure,
                "status": p.status,
                "total_investment": p.investment,
                "location": f"Region {p.region}, plot {len(p.name) * 7 % 400}",
                "planned_start": p.planned_start,
                "description": f"{p.name}: construction of the main works.",
                "details": p.profile.details,
                "submitted_at": p.submitted_at,
                "updated_at": p.closed_at or last_change,
                "credit_flag": None,
            }
        )
        timeline.append(_entry(p, p.submitted_at, EventType.PROJECT_SUBMITTED.value))
        for t in p.tasks:
            t_rows.append(
                {
                    "task_id": t.task_id,
                    "project_code": p.code,
                    "position": t.position,
                    "department": t.matter.department,
                    "matter_code": t.matter.code,
                    "matter_name": t.matter.name,
                    "status": t.status,
                    "consultative": t.matter.consultative,
                    "day_kind": t.matter.day_kind,
                    "legal_limit_days": t.matter.legal_limit,
                    "promised_limit_days": t.matter.promised_limit,
                    "assigned_at": t.assigned_at,
                    "due_at": t.due_at,
                    "promised_due_at": t.promised_due_at,
                    "paused_days": 0,
                    "paused_at": t.supplement_asked_at
                    if t.status == "supplement_required"
                    else None,
                    "decided_at": t.decided_at,
                    "decision": t.decision,
                    "opinion": "in order" if t.decision == "approved" else t.decision,
                    "missing_materials": t.missing if t.status == "supplement_required" else [],
                    "document_number": t.document_number,
                    "deemed": False,
                    "reply_due_at": None,
                    "credit_flag": None,
                }
            )
            timeline.append(
                _entry(
                    p,
                    t.assigned_at,
                    EventType.TASK_ASSIGNED.value,
                    t,
                    matter_code=t.matter.code,
                )
            )
            if t.supplement_asked_at:
                timeline.append(
                    _entry(
                        p,
                        t.supplement_asked_at,
                        EventType.PROJECT_SUPPLEMENT_REQUESTED.value,
                        t,
                        by_department=True,
                        matter_code=t.matter.code,
                        decision="supplement_required",
                        missing_materials=t.missing,
                    )
                )
            if t.supplement_given_at:
                timeline.append(
                    _entry(p, t.supplement_given_at, EventType.PROJECT_SUPPLEMENT_PROVIDED.value, t)
                )
            if t.decided_at:
                timeline.append(
                    _entry(
                        p,
                        t.decided_at,
                        EventType.DECISION_RECORDED.value,
                        t,
                        by_department=True,
                        matter_code=t.matter.code,
                        decision=t.decision,
                    )
                )
            if t.withdrawn_at:
                timeline.append(
                    _entry(p, t.withdrawn_at, EventType.TASK_WITHDRAWN.value, t, reason="closed")
                )
        final = {
            "filed": EventType.PROJECT_FILED,
            "approved": EventType.PROJECT_APPROVED,
            "rejected": EventType.PROJECT_REJECTED,
            "withdrawn": EventType.PROJECT_WITHDRAWN,
        }.get(p.status)
        if final is not None and p.closed_at is not None:
            timeline.append(_entry(p, p.closed_at, final.value))
    t_rows.sort(key=lambda r: str(r["assigned_at"]))
    timeline.sort(key=lambda r: r["at"])  # ids in the order things happened
    return {"projects": p_rows, "tasks": t_rows, "timeline": timeline}
