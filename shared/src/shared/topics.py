"""Topic names, exactly as the external contract spells them."""

from __future__ import annotations

from collections.abc import Iterable

APPROVAL_PROJECTS = "approval.projects"
APPROVAL_DECISIONS = "approval.decisions"
SUPERVISION_REPORTS = "supervision.reports"
SUPERVISION_ALERTS = "supervision.alerts"
NOTIFY_DELIVERIES = "notify.deliveries"
TASKS_PREFIX = "approval.tasks."
DLQ_SUFFIX = ".dlq"

# The 18 departments of the contract; their task topics exist from the start.
DEPARTMENT_CODES: tuple[str, ...] = (
    "NDRC", "MNR", "MEE", "MOHURD", "MWR", "MEM", "CMA", "CEA", "NCHA",
    "MOT", "NFGA", "MIIT", "NHC", "NEA", "CAAC", "MOFCOM", "SAMR", "NBS",
)  # fmt: skip


def tasks_topic(department: str) -> str:
    """`approval.tasks.<DEPT>`: what one department's system consumes."""
    return f"{TASKS_PREFIX}{department}"


def dlq_topic(topic: str) -> str:
    """`<topic>.dlq`: messages of `topic` that could not be processed, with the error."""
    return f"{topic}{DLQ_SUFFIX}"


def base_topics(departments: Iterable[str] = DEPARTMENT_CODES) -> list[str]:
    return [
        APPROVAL_PROJECTS,
        APPROVAL_DECISIONS,
        SUPERVISION_REPORTS,
        SUPERVISION_ALERTS,
        NOTIFY_DELIVERIES,
        *(tasks_topic(d) for d in departments),
    ]


def all_topics(departments: Iterable[str] = DEPARTMENT_CODES) -> list[str]:
    """Every topic the platform uses, each with its dead-letter topic."""
    base = base_topics(departments)
    return base + [dlq_topic(t) for t in base]
