"""The gist of an event in one line: what the log channel prints and a generic e-mail says.

Tolerant of what `data` holds: a missing field just leaves its part out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.events import EventType


def _text(value: Any) -> str | None:
    return str(value) if value is not None and value != "" else None


def _tasks(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    tasks = data.get("tasks")
    return [t for t in tasks if isinstance(t, Mapping)] if isinstance(tasks, list) else []


def missing_materials(data: Mapping[str, Any]) -> list[str]:
    """Every missing material a project's tasks ask for (one notice lists everything)."""
    found: list[str] = []
    own = data.get("missing_materials")
    sources = [data, *_tasks(data)] if isinstance(own, list) else _tasks(data)
    for source in sources:
        materials = source.get("missing_materials")
        if isinstance(materials, list):
            found.extend(str(m) for m in materials if str(m) not in found)
    return found


def gist(event_type: str, data: Any) -> str:
    """E.g. 'MEE supplement_required: missing EIA report, site plan'."""
    if not isinstance(data, Mapping):
        return ""
    parts: list[str] = []
    if event_type in (EventType.ALERT_RAISED, EventType.ALERT_RESOLVED):
        parts.append(f"{data.get('kind', '?')} {data.get('level', '')}".strip())
        if dept := _text(data.get("department")):
            parts.append(f"department {dept}")
        if detail := _text(data.get("detail")):
            parts.append(detail)
        return "; ".join(parts)
    if event_type in (EventType.CREDIT_RECORD_ADDED, EventType.CREDIT_STATUS_CHANGED):
        subject = _text(data.get("credit_code")) or "?"
        if status := _text(data.get("status")):
            previous = _text(data.get("previous_status"))
            return f"enterprise {subject} {previous or '?'} -> {status}"
        return f"enterprise {subject} {data.get('severity', '')} record: {data.get('reason', '')}"
    if event_type == EventType.REPORT_FILED:
        kind = _text(data.get("kind")) or "?"
        progress = _text(data.get("progress_percent"))
        return f"{kind} report" + (f", progress {progress}%" if progress else "")
    if dept := _text(data.get("department")):  # a task
        decision = _text(data.get("decision")) or _text(data.get("status")) or ""
        parts.append(f"{dept} {_text(data.get('matter_name')) or ''}".strip())
        if decision:
            parts.append(decision)
        if document := _text(data.get("document_number")):
            parts.append(f"document {document}")
        if missing := missing_materials(data):
            parts.append("missing " + ", ".join(missing))
        return "; ".join(parts)
    # A project.
    if status := _text(data.get("status")):
        parts.append(f"status {status}")
    if event_type == EventType.PROJECT_SUPPLEMENT_REQUESTED and (
        missing := missing_materials(data)
    ):
        parts.append("missing " + ", ".join(missing))
    decided = [
        f"{t.get('department')} {t.get('decision')}"
        + (f" ({t.get('document_number')})" if t.get("document_number") else "")
        for t in _tasks(data)
        if t.get("decision")
    ]
    if decided:
        parts.append("decisions: " + ", ".join(decided))
    elif departments := [str(t.get("department")) for t in _tasks(data) if t.get("department")]:
        parts.append("departments " + ",".join(departments))
    return "; ".join(parts)
