"""Prometheus metrics of the approval service (the common ones live in `shared.metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CALENDAR_FALLBACK = Counter(
    "working_day_calendar_fallback_total",
    "Working-day computations for a year without holiday data (weekends only were counted).",
    ["service", "year"],
)

DECISIONS_REFUSED = Counter(
    "approval_decisions_unauthenticated_total",
    "Decisions from Kafka dead-lettered because their authtoken was missing or not valid for "
    "their department, by reason (missing, expired, audience, role, department, invalid, claims).",
    ["reason"],
)

PROJECTS_IN_FLIGHT = Gauge(
    "projects_in_flight",
    "Projects not yet decided (submitted, in_review, supplement_required), by status; counted "
    "in the database every few seconds, so every replica reports the same figure (aggregate "
    "with max, not sum).",
    ["status"],
)

SUBMISSION_GROUP_SIZE = Histogram(
    "approval_submission_group_size",
    "Submissions committed together in one transaction (group commit of concurrent requests).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
