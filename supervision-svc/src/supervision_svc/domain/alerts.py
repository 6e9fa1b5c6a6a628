"""What every alert rule shares: levels, kinds and the key that keeps one alert open once.

A rule (see `overdue`) decides which level a subject is at; the handlers raise, escalate and
resolve alerts accordingly. New rules add their kind here and their decision in a module of
their own.
"""

from __future__ import annotations

from typing import Literal

Level = Literal["yellow", "red"]
LEVELS: tuple[Level, ...] = ("yellow", "red")

# Kinds of alert (the `kind` field of the contract).
APPROVAL_OVERDUE = "approval_overdue"


def open_key(kind: str, subject: str, level: str) -> str:
    """Key of an open alert: the same alert is never open twice."""
    return f"{kind}:{subject}:{level}"
