"""Rows per service: supervision-svc (the projection, alerts, reports, credit records)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bench.reads.world import SeedProject, SeedTask
from services.samples import CREDIT_CODES
from supervision_svc.domain.credit import RecordFacts, severity_of


@dataclass(slots=True)
class CreditLedger:
    records: dict[str, list[RecordFacts]] = field(default_factory=dict)
    first_at: dict[str, datetime] = field(default_factory=dict)


def _alert(
    code: str,
    kind: str,
    level: str,
    raised_at: datetime,
    resolved_at: datetime | None,
    *,
    credit_code: str | None,
    task: SeedTask | None = None,
    escalated_at: datetime | None = None,
) -> dict[str, Any]:
    subject = task.task_id if task else code
    return {
        "alert_id": str(uuid.uuid4()),
        "project_code": code,
        "kind": kind,
        "level": level,
        "raised_at": raised_at,
        "detail": f"{kind} on {subject}",
        "resolved_at": resolved_at,
        "credit_code": credit_code,
        "department": task.matter.department if task else None,
        "task_id": task.task_id if task else None,
        "open_key": f"{kind}:{subject}" if resolved_at is None else None,
        "escalated_at": escalated_at,
    }


def supervision_rows(
    projects: Sequence[SeedProject], now: datetime, rng: random.Random, ledger: CreditLedger
) -> dict[str, list[dict[str, Any]]]:
    p_rows: list[dict[str, Any]] = []
    t_rows: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    reports: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    for p in projects:
        row: dict[str, Any] = {
            "project_code": p.code,
            "credit_code": p.credit_code,
            "name": p.name,
            "status": p.status,
            "procedure": p.procedure,
            "region_code": p.region,
            "planned_start": p.planned_start,
            "submitted_at": p.submitted_at,
            "updated_at": p.closed_at or p.submitted_at,
            "version_at": p.closed_at or p.submitted_at,
            "industry_code": p.industry,
            "cleared_at": p.closed_at if p.status in ("approved", "filed") else None,
            "started_on": None,
            "completed_on": None,
            "last_report_on": None,
            "reported_progress": None,
            "invested_to_date": None,
            "planned_completion": None,
            "started_before_approval": False,
            "next_check_at": None,
        }
        for t in p.tasks:
            t_rows.append(
                {
                    "task_id": t.task_id,
                    "project_code": p.code,
                    "department": t.matter.department,
                    "matter_code": t.matter.code,
                    "matter_name": t.matter.name,
                    "status": t.status,
                    "assigned_at": t.assigned_at,
                    "due_at": t.due_at,
                    "yellow_at": t.yellow_at,
                    "decided_at": t.decided_at,
                    "decision": t.decision,
                    "decision_seconds": (t.decided_at - t.assigned_at).total_seconds()
                    if t.decided_at
                    else None,
                    "version_at": t.decided_at or t.withdrawn_at or t.assigned_at,
                }
            )
            # Approval overdue: a card once 90 % of the limit has passed, red past it.
            end = t.decided_at or t.withdrawn_at
            if t.status in ("pending", "supplement_required") and now > t.yellow_at:
                red = now > t.due_at
                alerts.append(
                    _alert(
                        p.code,
                        "approval_overdue",
                        "red" if red else "yellow",
                        t.yellow_at,
                        None,
                        credit_code=p.credit_code,
                        task=t,
                        escalated_at=t.due_at if red else None,
                    )
                )
            elif end is not None and end > t.yellow_at:
                red = end > t.due_at
                alerts.append(
                    _alert(
                        p.code,
                        "approval_overdue",
                        "red" if red else "yellow",
                        t.yellow_at,
                        end,
                        credit_code=p.credit_code,
                        task=t,
                        escalated_at=t.due_at if red else None,
                    )
                )
        cleared = row["cleared_at"]
        if cleared is not None and p.tasks:
            _construction(p, row, cleared, now, rng, alerts, reports)
        p_rows.append(row)
    for a in alerts:
        severity = severity_of(a["kind"])
        if a["level"] != "red" or severity is None:
            continue
        created = a["escalated_at"] or a["raised_at"]
        corrected = created + timedelta(days=rng.uniform(5, 60))
        is_corrected = corrected < now and rng.random() < 0.8
        records.append(
            {
                "record_id": str(uuid.uuid4()),
                "credit_code": a["credit_code"],
                "project_code": a["project_code"],
                "severity": severity,
                "reason": f"{a['kind']} red on project {a['project_code']}: {a['detail']}",
                "alert_id": a["alert_id"],
                "created_at": created,
                "corrected_at": corrected if is_corrected else None,
                "correction_reason": "rectified" if is_corrected else None,
                "corrected_by": "ops-1" if is_corrected else None,
            }
        )
        ledger.records.setdefault(a["credit_code"], []).append(
            RecordFacts(severity=severity, created_at=created, corrected=is_corrected)
        )
        ledger.first_at.setdefault(a["credit_code"], created)
    alerts.sort(key=lambda a: a["raised_at"])
    return {
        "projects": p_rows,
        "tasks": t_rows,
        "alerts": alerts,
        "reports": reports,
        "credit_records": records,
    }


def _construction(
    p: SeedProject,
    row: dict[str, Any],
    cleared: datetime,
    now: datetime,
    rng: random.Random,
    alerts: list[dict[str, Any]],
    reports: list[dict[str, Any]],
) -> None:
    """Construction of an approved project: a start report (usually near the planned start),
    progress reports every one to three months; a few late starts and missing reports."""
    planned = max(p.planned_start, cleared.date())
    today = now.date()
    late = rng.random() < 0.03
    if p.credit_code in CREDIT_CODES[-3:] and rng.random() < 0.002:
        # Work began before approval: a serious record (enough of them: dishonest).
        alerts.append(
            _alert(
                p.code,
                "started_before_approval",
                "red",
                p.submitted_at + timedelta(days=2),
                None,
                credit_code=p.credit_code,
            )
        )
        row["started_before_approval"] = True
    start = planned + timedelta(days=rng.randint(60, 150) if late else rng.randint(-5, 25))
    due = datetime.combine(planned + timedelta(days=30), datetime.min.time(), UTC)
    if late and due < now:
        began = datetime.combine(start, datetime.min.time(), UTC)
        red_at = due + timedelta(days=30)
        red = min(began, now) > red_at
        alerts.append(
            _alert(
                p.code,
                "start_overdue",
                "red" if red else "yellow",
                due,
                began if began <= now else None,
                credit_code=p.credit_code,
                escalated_at=red_at if red else None,
            )
        )
    if start > today:
        row["next_check_at"] = due if due > now else now + timedelta(days=1)
        return
    on, progress, invested = start, Decimal(0), Decimal(0)
    kind = "start"
    count = 0
    # A few enterprises stop reporting after a few reports (progress_missing).
    most = rng.randint(1, 5) if rng.random() < 0.03 else 40
    while on <= today and count < most:
        reports.append(
            {
                "report_id": str(uuid.uuid4()),
                "project_code": p.code,
                "credit_code": p.credit_code,
                "kind": kind,
                "report_date": on,
                "progress_percent": progress,
                "invested_to_date": invested,
                "note": None,
                "planned_completion": planned + timedelta(days=720) if kind == "start" else None,
                "filed_at": datetime.combine(on, datetime.min.time(), UTC)
                + timedelta(hours=rng.uniform(8, 18)),
            }
        )
        row["started_on"] = start
        row["last_report_on"] = on
        row["reported_progress"] = progress
        row["invested_to_date"] = invested
        row["planned_completion"] = planned + timedelta(days=720)
        if progress >= 100:
            row["completed_on"] = on
            return
        count += 1
        gap = rng.randint(30, 95)
        on += timedelta(days=gap)
        progress = min(Decimal(100), progress + Decimal(rng.randint(5, 20)))
        invested += (p.investment * Decimal(rng.randint(5, 20)) / 100).quantize(Decimal(1))
        kind = "completion" if progress >= 100 else "progress"
    if row["completed_on"] is None:
        last = row["last_report_on"]
        row["next_check_at"] = datetime.combine(last + timedelta(days=90), datetime.min.time(), UTC)
        if today - last > timedelta(days=90):
            missing_at = datetime.combine(last + timedelta(days=90), datetime.min.time(), UTC)
            red_at = missing_at + timedelta(days=30)
            alerts.append(
                _alert(
                    p.code,
                    "progress_missing",
                    "red" if now > red_at else "yellow",
                    missing_at,
                    None,
                    credit_code=p.credit_code,
                    escalated_at=red_at if now > red_at else None,
                )
            )
