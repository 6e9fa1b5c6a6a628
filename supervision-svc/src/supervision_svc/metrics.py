"""Prometheus metrics of the supervision service (the platform-wide ones are in shared.metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

ALERTS_RAISED = Counter(
    "supervision_alerts_raised_total",
    "Alerts raised, by kind and level (an escalation to red counts as a red one raised).",
    ["kind", "level"],
)
ALERTS_RESOLVED = Counter(
    "supervision_alerts_resolved_total", "Alerts resolved, by kind and level.", ["kind", "level"]
)
ALERTS_OPEN = Gauge(
    "supervision_alerts_open",
    "Open alerts, by kind and level (from the database).",
    ["kind", "level"],
)
TASKS_OVERDUE = Gauge(
    "supervision_tasks_overdue",
    "Pending tasks past their time limit, by department (from the database).",
    ["department"],
)
REPORTS_RECEIVED = Counter(
    "supervision_reports_received_total", "Construction reports accepted, by kind.", ["kind"]
)
CREDIT_STATUS_CHANGES = Counter(
    "supervision_credit_status_changes_total",
    "Enterprise credit status changes, by the new status.",
    ["status"],
)
PROJECTION_LAG = Gauge(
    "supervision_projection_lag_seconds",
    "Real seconds between an approval event's time and its application here (last event).",
)
SWEEPS_COMPLETED = Counter(
    "supervision_sweeps_completed_total",
    "Sweeps that ran to the end without error, by sweep.",
    ["sweep"],
)
SWEEP_LAST_SUCCESS = Gauge(
    "supervision_sweep_last_success_timestamp_seconds",
    "Unix time (real) at which a sweep last finished without error.",
    ["sweep"],
)
OVERDUE_ALERTS_RAISED = Counter(
    "supervision_overdue_alerts_raised_total",
    "Overdue alerts raised on approval tasks, by department and level.",
    ["department", "level"],
)
