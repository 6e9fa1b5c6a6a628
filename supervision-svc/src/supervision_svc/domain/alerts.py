"""What every alert rule shares: levels, kinds, the key that keeps one alert open once, and
how an open alert follows the level its rule computes.

A rule (see `overdue`, `construction`) decides which level a subject is at now; `step` turns
that into raise, escalate or resolve. One alert per project and kind is open at a time
(`approval_overdue`: per task, so that each department sees its own): an escalation keeps
the alert (its id) and only raises its level; a level never goes down while the alert is
open, the alert is resolved once its condition clears.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

Level = Literal["yellow", "red"]
LEVELS: tuple[Level, ...] = ("yellow", "red")
_RANK: dict[str, int] = {"yellow": 1, "red": 2}

# Kinds of alert (the `kind` field of the contract).
APPROVAL_OVERDUE = "approval_overdue"
STARTED_BEFORE_APPROVAL = "started_before_approval"
START_OVERDUE = "start_overdue"
PROGRESS_MISSING = "progress_missing"
PROGRESS_BEHIND = "progress_behind"
CONSTRUCTION_KINDS: tuple[str, ...] = (
    STARTED_BEFORE_APPROVAL,
    START_OVERDUE,
    PROGRESS_MISSING,
    PROGRESS_BEHIND,
)
KINDS: tuple[str, ...] = (APPROVAL_OVERDUE, *CONSTRUCTION_KINDS)

Step = Literal["raise", "escalate", "resolve"]


def open_key(kind: str, subject: str) -> str:
    """Key of an open alert: one per kind and subject (project, or task) while open."""
    return f"{kind}:{subject}"


def step(current: str | None, target: Level | None) -> Step | None:
    """What to do with the open alert at level `current` (None: none open) so that it shows
    `target` (None: the condition is clear)."""
    if current is None:
        return "raise" if target is not None else None
    if target is None:
        return "resolve"
    if _RANK[target] > _RANK.get(current, 0):
        return "escalate"
    return None  # same level, or lower: an open alert never goes down a level


def earliest(*instants: datetime | None) -> datetime | None:
    """The earliest of the instants given (None ones ignored), None if there is none."""
    present = [i for i in instants if i is not None]
    return min(present) if present else None
