"""Pure helpers the templates use: dates, status tags, due-date levels (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# Status value -> tag colour class (GOV.UK-style tags; the text always says the status too).
TAG_COLOURS = {
    "submitted": "blue",
    "in_review": "blue",
    "pending": "blue",
    "supplement_required": "orange",
    "approved": "green",
    "filed": "green",
    "rejected": "red",
    "withdrawn": "grey",
    "normal": "green",
    "abnormal": "orange",
    "dishonest": "red",
    "green": "green",
    "yellow": "yellow",
    "red": "red",
    "open": "orange",
    "resolved": "grey",
}


def tag_colour(status: str | None) -> str:
    return TAG_COLOURS.get(status or "", "grey")


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def when(value: Any) -> str:
    parsed = parse_time(value)
    return parsed.strftime("%Y-%m-%d %H:%M") if parsed else (str(value) if value else "—")


def day(value: Any) -> str:
    parsed = parse_time(value)
    return parsed.strftime("%Y-%m-%d") if parsed else (str(value) if value else "—")


def due_level(task: dict[str, Any], now: datetime) -> str:
    """`red` past the due time, `yellow` from 90 % of the time allowed (as supervision warns),
    else `normal`. Only open tasks are timed."""
    if task.get("status") not in ("pending", "supplement_required"):
        return "normal"
    due, assigned = parse_time(task.get("due_at")), parse_time(task.get("assigned_at"))
    if due is None:
        return "normal"
    if now > due:
        return "red"
    if assigned is not None and due > assigned and (now - assigned) / (due - assigned) >= 0.9:
        return "yellow"
    return "normal"


def on_time_rate(tasks: list[dict[str, Any]]) -> float | None:
    decided = [
        t for t in tasks if t.get("decided_at") and t.get("status") in ("approved", "rejected")
    ]
    if not decided:
        return None
    on_time = 0
    for t in decided:
        at, due = parse_time(t.get("decided_at")), parse_time(t.get("due_at"))
        if at is not None and (due is None or at <= due):
            on_time += 1
    return on_time / len(decided)


def percent(value: Any) -> str:
    """A 0..1 rate as a percentage; anything else (absent, undefined in a template) as a dash."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    return f"{value * 100:.0f}%"


NEXT_ACTIONS = {
    "submitted": "Wait for the departments to start",
    "in_review": "Wait for the departments' decisions",
    "supplement_required": "Answer the supplement notice",
    "approved": "File the construction start report",
    "filed": "File the construction start report",
    "rejected": "Read the opinions",
    "withdrawn": "Nothing to do",
}


def next_action(status: str | None) -> str:
    return NEXT_ACTIONS.get(status or "", "Open the project")
